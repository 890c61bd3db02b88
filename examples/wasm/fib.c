/*
 * fib: CPU-heavy example. Input {"n":30} -> output {"n":30,"fib":832040},
 * computed with naive (exponential) recursion on purpose, so that larger n
 * take visibly longer: n = 30 takes milliseconds, n = 40 about half a second,
 * n = 45 several seconds (past Aether's default 3 s timeout).
 *
 * n must be an integer from 0 to 45; anything else (including a missing
 * or malformed input) prints a message on stderr and exits with code 2.
 * Build:
 *   clang --target=wasm32-wasi -O2 -Wl,--strip-all fib.c -o fib.wasm
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_N 45

static void usage(const char *why) {
  fprintf(stderr, "fib: %s; expected input like {\"n\":30} with an integer n from 0 to %d\n", why, MAX_N);
  exit(2);
}

static uint64_t fib(unsigned n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/* Reads all of stdin into a NUL-terminated buffer. */
static char *read_all(void) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (buf == NULL) {
      fputs("fib: out of memory\n", stderr);
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

/* Skips a JSON string (s at its opening quote); NULL when unterminated. */
static char *skip_string(char *s) {
  for (s++; *s != '"'; s++) {
    if ((unsigned char)*s < 0x20) return NULL;
    if (*s == '\\' && *++s == '\0') return NULL;
  }
  return s + 1;
}

/* Skips one JSON value leniently (balanced brackets, strings); NULL at a
 * malformed end of input. */
static char *skip_value(char *s) {
  size_t depth = 0;
  while (*s) {
    if (*s == '"') {
      s = skip_string(s);
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

/* Parses the JSON number at s as a non-negative integer n. Sets *end. */
static double parse_n(char *s, char **end) {
  char *p = s;
  if (*p == '-') p++;
  if (*p < '0' || *p > '9') usage("\"n\" is not a number");
  while ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' || *p == '+' || *p == '-') p++;
  char saved = *p;
  *p = '\0';
  char *stop;
  double n = strtod(s, &stop);
  *p = saved;
  if (stop != p) usage("\"n\" is not a number");
  *end = p;
  return n;
}

int main(void) {
  char *s = skip_ws(read_all());
  int have_n = 0;
  double n = 0;

  if (*s != '{') usage("input is not a JSON object");
  s = skip_ws(s + 1);
  while (*s == '"') {
    char *key = s + 1;
    s = skip_string(s);
    if (s == NULL) usage("malformed JSON");
    int is_n = s - key == 2 && key[0] == 'n';
    s = skip_ws(s);
    if (*s != ':') usage("malformed JSON");
    s = skip_ws(s + 1);
    if (is_n) {
      n = parse_n(s, &s);
      have_n = 1;
    } else {
      s = skip_value(s);
      if (s == NULL) usage("malformed JSON");
    }
    s = skip_ws(s);
    if (*s != ',') break;
    s = skip_ws(s + 1);
  }
  if (*s != '}') usage("malformed JSON");
  if (!have_n) usage("missing \"n\"");
  if (!(n >= 0)) usage("\"n\" is negative");
  if (n > MAX_N) {
    fprintf(stderr, "fib: n = %g is above the cap of %d (naive recursion would take too long)\n", n, MAX_N);
    return 2;
  }
  if (n != (double)(unsigned)n) usage("\"n\" is not an integer");

  unsigned k = (unsigned)n;
  printf("{\"n\":%u,\"fib\":%llu}\n", k, (unsigned long long)fib(k));
  return 0;
}
