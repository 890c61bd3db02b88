#!/usr/bin/env python3
# /opt/handlers/api.py
import os, socket, json
from http.server import HTTPServer, BaseHTTPRequestHandler

class APIHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        routes = {
            '/users': {'users': [{'id': 1, 'name': 'Alice'}]},
            '/health': {'status': 'healthy'},
        }
        response = routes.get(self.path, {'error': 'Not found'})
        status = 200 if self.path in routes else 404
        
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.end_headers()
        self.wfile.write(json.dumps(response).encode())

    def do_POST(self):
        content_length = int(self.headers.get('Content-Length', 0))
        body = json.loads(self.rfile.read(content_length))
        
        self.send_response(201)
        self.send_header('Content-Type', 'application/json')
        self.end_headers()
        self.wfile.write(json.dumps({'created': body}).encode())

if __name__ == '__main__':
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ['AETHER_SOCKET'])
    sock.send(b'READY')
    
    port = int(os.environ.get('AETHER_TRIGGER_PORT', '3000'))
    HTTPServer(('0.0.0.0', port), APIHandler).serve_forever()
