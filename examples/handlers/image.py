#!/usr/bin/python3
# /opt/handlers/image.py
# Shebang is /usr/bin/python3 (the seed has /usr/bin/env python3): Pillow comes
# from Debian's python3-pil, which only Debian's interpreter sees; a `python3`
# earlier on PATH (e.g. a pyenv shim) may lack PIL and starts ~90 ms slower.
import os, socket, io
from PIL import Image
from http.server import HTTPServer, BaseHTTPRequestHandler

class ImageHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        content_length = int(self.headers['Content-Length'])
        image_data = self.rfile.read(content_length)
        
        # Resize image
        img = Image.open(io.BytesIO(image_data))
        max_size = int(os.environ.get('MAX_SIZE', '1024'))
        img.thumbnail((max_size, max_size))
        
        # Convert format
        output = io.BytesIO()
        fmt = os.environ.get('FORMAT', 'webp').upper()
        img.save(output, format=fmt, quality=85)
        
        self.send_response(200)
        self.send_header('Content-Type', f'image/{fmt.lower()}')
        self.end_headers()
        self.wfile.write(output.getvalue())

if __name__ == '__main__':
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ['AETHER_SOCKET'])
    sock.send(b'READY')
    
    port = int(os.environ.get('AETHER_TRIGGER_PORT', '8081'))
    HTTPServer(('0.0.0.0', port), ImageHandler).serve_forever()
