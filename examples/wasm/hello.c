/*
 * hello_world: Aether's "hello" WASI function.
 *
 *   stdin:  the request's JSON input, e.g. {"msg":"Hello from Aether!"}
 *   stdout: the value of "msg" as plain text (Hello from Aether!), or
 *           "Hello, World!" when the input has no string "msg".
 *
 * String escapes in msg (\" \\ \/ \b \f \n \r \t and \uXXXX, including
 * surrogate pairs) are decoded to UTF-8. Build:
 *   clang --target=wasm32-wasi -O2 -Wl,--strip-all hello.c -o hello.wasm
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads all of stdin into a NUL-terminated buffer. */
static char *read_all(void) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (buf == NULL) {
      fputs("hello: out of memory\n", stderr);
      exit(1);
    }
    size_t got = fread(buf + n, 1, cap - n, stdin);
    n += got;
    if (got == 0) break;
    if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
  }
  buf[n] = '\0';
  return buf;
}

static char *skip_ws(char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  return s;
}

static long hex4(const char *s) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1; /* also stops at the terminating NUL */
    v = v * 16 + d;
  }
  return v;
}

static char *put_utf8(char *w, long cp) {
  if (cp < 0x80) {
    *w++ = (char)cp;
  } else if (cp < 0x800) {
    *w++ = (char)(0xC0 | cp >> 6);
    *w++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *w++ = (char)(0xE0 | cp >> 12);
    *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
    *w++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *w++ = (char)(0xF0 | cp >> 18);
    *w++ = (char)(0x80 | (cp >> 12 & 0x3F));
    *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
    *w++ = (char)(0x80 | (cp & 0x3F));
  }
  return w;
}

/*
 * Decodes the JSON string starting at s (which points at its opening quote)
 * in place: the decoded bytes are never longer than the escaped text. Sets
 * *out and *len and returns the position after the closing quote, or NULL
 * when the string is malformed.
 */
static char *decode_string(char *s, char **out, size_t *len) {
  char *r = s + 1, *w = s + 1;
  *out = w;
  for (;;) {
    unsigned char c = (unsigned char)*r;
    if (c == '"') break;
    if (c < 0x20) return NULL; /* end of input or a raw control character */
    if (c != '\\') {
      *w++ = *r++;
      continue;
    }
    r++;
    switch (*r++) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'u': {
        long cp = hex4(r);
        if (cp < 0) return NULL;
        r += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && r[0] == '\\' && r[1] == 'u') {
          long lo = hex4(r + 2);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            r += 6;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* lone surrogate */
        w = put_utf8(w, cp);
        break;
      }
      default: return NULL;
    }
  }
  *len = (size_t)(w - *out);
  return r + 1;
}

/*
 * Skips one JSON value (leniently: balanced brackets, strings with escapes)
 * and returns the position after it, or NULL at a malformed end of input.
 */
static char *skip_value(char *s) {
  size_t depth = 0;
  while (*s) {
    if (*s == '"') {
      char *str;
      size_t len;
      s = decode_string(s, &str, &len);
      if (s == NULL) return NULL;
      if (depth == 0) return s;
      continue;
    }
    if (*s == '{' || *s == '[') {
      depth++;
    } else if (*s == '}' || *s == ']') {
      if (depth == 0) return s;
      if (--depth == 0) return s + 1;
    } else if (*s == ',' && depth == 0) {
      return s;
    }
    s++;
  }
  return depth == 0 ? s : NULL;
}

int main(void) {
  char *s = skip_ws(read_all());
  char *msg = NULL;
  size_t msg_len = 0;

  /* Walk the top-level object; the last "msg" wins, as with JSON.parse. */
  if (*s == '{') {
    s = skip_ws(s + 1);
    while (*s == '"') {
      char *key;
      size_t key_len;
      s = decode_string(s, &key, &key_len);
      if (s == NULL) break;
      s = skip_ws(s);
      if (*s != ':') break;
      s = skip_ws(s + 1);
      if (key_len == 3 && memcmp(key, "msg", 3) == 0 && *s == '"') {
        s = decode_string(s, &msg, &msg_len);
      } else {
        if (key_len == 3 && memcmp(key, "msg", 3) == 0) msg = NULL; /* not a string */
        s = skip_value(s);
      }
      if (s == NULL) break;
      s = skip_ws(s);
      if (*s != ',') break;
      s = skip_ws(s + 1);
    }
  }

  if (msg != NULL) {
    fwrite(msg, 1, msg_len, stdout);
    putchar('\n');
  } else {
    puts("Hello, World!");
  }
  return 0;
}
