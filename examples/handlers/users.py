#!/usr/bin/env python3
"""
Aetherless Function Handler - user-service (seed 000, Example 4)

GET /users       -> {"users": [...]}
GET /users/<id>  -> {"user": {...}} or 404
"""
import os
import socket
import json
from http.server import HTTPServer, BaseHTTPRequestHandler

USERS = [
    {'id': 1, 'name': 'Alice'},
    {'id': 2, 'name': 'Bob'},
    {'id': 3, 'name': 'Carol'},
]


class UsersHandler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        body['function'] = os.environ.get('AETHER_FUNCTION_ID')
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = self.path.split('?', 1)[0].strip('/').split('/')
        if parts == ['users']:
            return self.reply(200, {'users': USERS})
        if len(parts) == 2 and parts[0] == 'users':
            user = next((u for u in USERS if str(u['id']) == parts[1]), None)
            if user:
                return self.reply(200, {'user': user})
            return self.reply(404, {'error': f'user {parts[1]} not found'})
        self.reply(404, {'error': 'Not found'})

    def log_message(self, format, *args):
        func_id = os.environ.get('AETHER_FUNCTION_ID', 'handler')
        print(f"[{func_id}] {format % args}")


if __name__ == '__main__':
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ['AETHER_SOCKET'])
    sock.send(b'READY')

    port = int(os.environ.get('AETHER_TRIGGER_PORT', '9001'))
    HTTPServer(('0.0.0.0', port), UsersHandler).serve_forever()
