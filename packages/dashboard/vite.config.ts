import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built into dist/ and served by `aether serve` at / (relative asset paths, hash routes).
export default defineConfig({
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
});
