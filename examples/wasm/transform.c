/*
 * transform: a JSON-in, JSON-out function with a small hand-written parser.
 *
 *   input:  {"items":[{"name":"a","price":2.5,"qty":2}, ...], "currency":"EUR"}
 *   output: {"count":N,"total":T,"currency":"EUR","names":["A",...]}
 *
 * count is the number of items, total the sum of price * qty, names the item
 * names upper-cased (ASCII letters; other bytes are kept). Each item needs a
 * string "name" and a number "price"; "qty" is a number and defaults to 1.
 * "items" defaults to [] and "currency" to null. Unknown keys, at any depth
 * and with any nesting, are skipped (and still checked to be valid JSON).
 *
 * Malformed input (invalid JSON, or fields of the wrong type) prints a
 * message on stderr and exits with code 2. Build:
 *   clang --target=wasm32-wasi -O2 -Wl,--strip-all transform.c -o transform.wasm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *input; /* the whole of stdin, NUL-terminated */
static char *end;   /* input + its length (stdin may contain NUL bytes) */
static char *p;     /* parse position */

static void fail(const char *what) {
  fprintf(stderr, "transform: malformed input at byte %ld: %s\n", (long)(p - input), what);
  exit(2);
}

static void fail_item(size_t index, const char *what) {
  fprintf(stderr, "transform: items[%zu]: %s\n", index, what);
  exit(2);
}

static void *grow(void *ptr, size_t size) {
  ptr = realloc(ptr, size);
  if (ptr == NULL) {
    fputs("transform: out of memory\n", stderr);
    exit(1);
  }
  return ptr;
}

static void read_stdin(void) {
  size_t cap = 4096, n = 0;
  input = grow(NULL, cap + 1);
  for (;;) {
    size_t got = fread(input + n, 1, cap - n, stdin);
    n += got;
    if (got == 0) break;
    if (n == cap) input = grow(input, (cap *= 2) + 1);
  }
  if (ferror(stdin)) {
    fputs("transform: read from stdin failed\n", stderr);
    exit(1);
  }
  input[n] = '\0';
  end = input + n;
}

/* ---- parser: every function reads at p, consumes one token, fails on error */

static void ws(void) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static void expect(char c, const char *what) {
  ws();
  if (*p != c) fail(what);
  p++;
}

static long hex4(const char *s) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    int d = is_digit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
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
 * Parses a string and decodes it to UTF-8 in place (decoded text is never
 * longer than its escaped form, and the parser never looks back), returning
 * its start and setting *len. Lone surrogates become U+FFFD.
 */
static char *string(size_t *len) {
  ws();
  if (*p != '"') fail("expected a string");
  char *start = ++p, *w = start;
  for (;;) {
    unsigned char c = (unsigned char)*p;
    if (c == '"') break;
    if (c == '\0' && p == end) fail("unterminated string");
    if (c < 0x20) fail("control character in a string");
    if (c != '\\') {
      *w++ = *p++;
      continue;
    }
    switch (*++p) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'u': {
        long cp = hex4(p + 1);
        if (cp < 0) fail("bad \\u escape");
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && p[1] == '\\' && p[2] == 'u') {
          long lo = hex4(p + 3);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        w = put_utf8(w, cp);
        break;
      }
      default: fail("bad escape in a string");
    }
    p++;
  }
  p++;
  *len = (size_t)(w - start);
  return start;
}

static double number(void) {
  ws();
  char *start = p;
  if (*p == '-') p++;
  if (*p == '0') {
    p++;
  } else if (is_digit(*p)) {
    while (is_digit(*p)) p++;
  } else {
    fail("expected a value");
  }
  if (*p == '.') {
    p++;
    if (!is_digit(*p)) fail("expected a digit after '.'");
    while (is_digit(*p)) p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!is_digit(*p)) fail("expected a digit in the exponent");
    while (is_digit(*p)) p++;
  }
  char saved = *p;
  *p = '\0';
  double v = strtod(start, NULL);
  *p = saved;
  return v;
}

static void literal(const char *word) {
  size_t n = strlen(word);
  if (strncmp(p, word, n) != 0) fail("expected a value");
  p += n;
}

/*
 * Skips (and validates) one value of any nesting depth without recursion:
 * the open containers are kept on a heap-allocated stack, so deep input
 * cannot overflow the wasm stack.
 */
static void skip_value(void) {
  char *stack = NULL; /* '{' or '[' per open container */
  size_t depth = 0, cap = 0, len;
  for (;;) {
    /* one value */
    ws();
    char c = *p;
    if (c == '{' || c == '[') {
      p++;
      ws();
      if (*p == (c == '{' ? '}' : ']')) {
        p++; /* empty container: a complete value */
      } else {
        if (depth == cap) stack = grow(stack, cap = cap ? cap * 2 : 64);
        stack[depth++] = c;
        if (c == '{') {
          string(&len);
          expect(':', "expected ':'");
        }
        continue; /* the first member's value */
      }
    } else if (c == '"') {
      string(&len);
    } else if (c == 't') {
      literal("true");
    } else if (c == 'f') {
      literal("false");
    } else if (c == 'n') {
      literal("null");
    } else {
      number();
    }
    /* after a value: close finished containers, or go on to the next member */
    for (;;) {
      if (depth == 0) {
        free(stack);
        return;
      }
      char open = stack[depth - 1];
      ws();
      if (*p == ',') {
        p++;
        if (open == '{') {
          string(&len);
          expect(':', "expected ':'");
        }
        break;
      }
      if (*p != (open == '{' ? '}' : ']')) fail(open == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
      p++;
      depth--;
    }
  }
}

static int key_is(const char *key, size_t len, const char *want) {
  return len == strlen(want) && memcmp(key, want, len) == 0;
}

static int at_number(void) {
  ws();
  return *p == '-' || is_digit(*p);
}

/* ---- the transform */

struct name {
  char *text;
  size_t len;
};

static size_t count;
static double total;
static struct name *names;
static size_t names_cap;
static char *currency;
static size_t currency_len;

static void item(size_t index) {
  struct name name = {NULL, 0};
  double price = 0, qty = 1;
  int have_price = 0;

  ws();
  if (*p != '{') fail_item(index, "not an object");
  p++;
  ws();
  if (*p == '}') {
    p++;
  } else {
    for (;;) {
      size_t key_len;
      char *key = string(&key_len);
      expect(':', "expected ':'");
      if (key_is(key, key_len, "name")) {
        ws();
        if (*p != '"') fail_item(index, "\"name\" is not a string");
        name.text = string(&name.len);
      } else if (key_is(key, key_len, "price")) {
        if (!at_number()) fail_item(index, "\"price\" is not a number");
        price = number();
        have_price = 1;
      } else if (key_is(key, key_len, "qty")) {
        if (!at_number()) fail_item(index, "\"qty\" is not a number");
        qty = number();
      } else {
        skip_value();
      }
      ws();
      if (*p == ',') {
        p++;
        continue;
      }
      if (*p != '}') fail("expected ',' or '}'");
      p++;
      break;
    }
  }
  if (name.text == NULL) fail_item(index, "missing \"name\"");
  if (!have_price) fail_item(index, "missing \"price\"");

  for (size_t i = 0; i < name.len; i++) {
    if (name.text[i] >= 'a' && name.text[i] <= 'z') name.text[i] -= 'a' - 'A';
  }
  if (count == names_cap) names = grow(names, (names_cap = names_cap ? names_cap * 2 : 16) * sizeof *names);
  names[count++] = name;
  total += price * qty;
}

static void items(void) {
  count = 0; /* a repeated "items" key replaces the earlier one */
  total = 0;
  ws();
  if (*p != '[') fail("\"items\" is not an array");
  p++;
  ws();
  if (*p == ']') {
    p++;
    return;
  }
  for (;;) {
    item(count);
    ws();
    if (*p == ',') {
      p++;
      continue;
    }
    if (*p != ']') fail("expected ',' or ']'");
    p++;
    return;
  }
}

static void print_string(const char *s, size_t len) {
  putchar('"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': fputs("\\\"", stdout); break;
      case '\\': fputs("\\\\", stdout); break;
      case '\n': fputs("\\n", stdout); break;
      case '\r': fputs("\\r", stdout); break;
      case '\t': fputs("\\t", stdout); break;
      default:
        if (c < 0x20) {
          printf("\\u%04x", c);
        } else {
          putchar(c);
        }
    }
  }
  putchar('"');
}

/*
 * Prints v as JavaScript would: the fewest significant digits that read back
 * as the same double (0.1 * 3 prints as 0.30000000000000004, 2.5 * 2 as 5),
 * in plain decimal notation unless the exponent is below -6 or above 20.
 */
static void print_number(double v) {
  char buf[40];
  int precision;
  for (precision = 1; precision < 17; precision++) {
    snprintf(buf, sizeof buf, "%.*e", precision - 1, v);
    if (strtod(buf, NULL) == v) break;
  }
  snprintf(buf, sizeof buf, "%.*e", precision - 1, v);
  char *e = strchr(buf, 'e');
  int exponent = atoi(e + 1);
  if (exponent >= -6 && exponent < 21) {
    int decimals = precision - 1 - exponent;
    printf("%.*f", decimals > 0 ? decimals : 0, v);
    return;
  }
  /* 1.5e-08 -> 1.5e-8 */
  char *digits = e + 2;
  while (digits[0] == '0' && digits[1] != '\0') memmove(digits, digits + 1, strlen(digits));
  fputs(buf, stdout);
}

int main(void) {
  read_stdin();
  p = input;

  ws();
  if (*p != '{') fail("expected a JSON object");
  p++;
  ws();
  if (*p == '}') {
    p++;
  } else {
    for (;;) {
      size_t key_len;
      char *key = string(&key_len);
      expect(':', "expected ':'");
      if (key_is(key, key_len, "items")) {
        items();
      } else if (key_is(key, key_len, "currency")) {
        ws();
        if (*p == '"') {
          currency = string(&currency_len);
        } else if (*p == 'n') {
          literal("null");
          currency = NULL;
        } else {
          fail("\"currency\" is not a string");
        }
      } else {
        skip_value();
      }
      ws();
      if (*p == ',') {
        p++;
        continue;
      }
      if (*p != '}') fail("expected ',' or '}'");
      p++;
      break;
    }
  }
  ws();
  if (p != end) fail("unexpected text after the JSON object");
  if (!isfinite(total)) {
    fputs("transform: total is not a finite number\n", stderr);
    return 2;
  }

  printf("{\"count\":%zu,\"total\":", count);
  print_number(total);
  fputs(",\"currency\":", stdout);
  if (currency != NULL) {
    print_string(currency, currency_len);
  } else {
    fputs("null", stdout);
  }
  fputs(",\"names\":[", stdout);
  for (size_t i = 0; i < count; i++) {
    if (i > 0) putchar(',');
    print_string(names[i].text, names[i].len);
  }
  fputs("]}\n", stdout);
  return 0;
}
