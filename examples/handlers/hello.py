#!/usr/bin/env python3
"""
Aetherless Function Handler - Hello World API
"""
import os
import socket
import json
from http.server import HTTPServer, BaseHTTPRequestHandler

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.end_headers()
        
        response = {
            'message': 'Hello from Aetherless! 🚀',
            'function': os.environ.get('AETHER_FUNCTION_ID'),
            'path': self.path
        }
        self.wfile.write(json.dumps(response, indent=2).encode())
    
    def log_message(self, format, *args):
        func_id = os.environ.get('AETHER_FUNCTION_ID', 'handler')
        print(f"[{func_id}] {format % args}")

def main():
    function_id = os.environ.get('AETHER_FUNCTION_ID', 'hello')
    port = int(os.environ.get('AETHER_TRIGGER_PORT', '8080'))
    
    # Connect to Aetherless orchestrator
    socket_path = os.environ['AETHER_SOCKET']
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)
    sock.send(b'READY')  # Signal ready to orchestrator
    
    print(f"[{function_id}] Starting on port {port}...")
    server = HTTPServer(('0.0.0.0', port), Handler)
    server.serve_forever()

if __name__ == '__main__':
    main()
