/*
 * Printing replies the way redis-cli does: quoted and tagged on a terminal, or raw
 * (`rcm --raw`).
 */
#include "cli.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------
 * Printing replies the way redis-cli does on a terminal.
 * ------------------------------------------------------------------------------ */

/* A string as redis-cli's sdscatrepr quotes it. */
static void print_quoted(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\\': fputs("\\\\", f); break;
        case '"': fputs("\\\"", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\a': fputs("\\a", f); break;
        case '\b': fputs("\\b", f); break;
        default:
            if (isprint(c)) fputc(c, f);
            else fprintf(f, "\\x%02x", c);
        }
    }
    fputc('"', f);
}

static bool is_aggregate(rcm_reply_kind k)
{
    return k == RCM_REPLY_ARRAY || k == RCM_REPLY_MAP || k == RCM_REPLY_SET ||
           k == RCM_REPLY_PUSH;
}

/* indent: what starts every line of this reply after its first (the parent's "N) "
 * column); the first line continues where the caller left the cursor. */
static void print_reply_tty(FILE *f, const rcm_reply *r, const char *indent)
{
    size_t len = 0;
    const char *s;
    rcm_reply_kind kind = rcm_reply_type(r);
    switch (kind) {
    case RCM_REPLY_STRING:
        s = rcm_reply_string(r, &len);
        print_quoted(f, s ? s : "", len);
        fputc('\n', f);
        return;
    case RCM_REPLY_STATUS:
        s = rcm_reply_string(r, &len);
        fwrite(s ? s : "", 1, len, f);
        fputc('\n', f);
        return;
    case RCM_REPLY_ERROR:
        s = rcm_reply_string(r, &len);
        fputs("(error) ", f);
        fwrite(s ? s : "", 1, len, f);
        fputc('\n', f);
        return;
    case RCM_REPLY_INTEGER:
        fprintf(f, "(integer) %lld\n", rcm_reply_integer(r));
        return;
    case RCM_REPLY_NIL:
        fputs("(nil)\n", f);
        return;
    case RCM_REPLY_DOUBLE:
        s = rcm_reply_string(r, &len);
        fputs("(double) ", f);
        fwrite(s ? s : "", 1, len, f);
        fputc('\n', f);
        return;
    case RCM_REPLY_BOOL:
        fputs(rcm_reply_integer(r) ? "(true)\n" : "(false)\n", f);
        return;
    default:
        break;
    }
    if (!is_aggregate(kind)) {
        fprintf(f, "(unknown reply type %d)\n", (int)kind);
        return;
    }
    size_t n = rcm_reply_length(r);
    if (n == 0) {
        fputs(kind == RCM_REPLY_MAP ? "(empty hash)\n"
              : kind == RCM_REPLY_SET ? "(empty set)\n" : "(empty array)\n", f);
        return;
    }
    int width = snprintf(NULL, 0, "%zu", n);
    size_t inlen = strlen(indent);
    char *child = malloc(inlen + (size_t)width + 3);
    if (child == NULL) {
        fputs("(out of memory)\n", f);
        return;
    }
    memcpy(child, indent, inlen);
    memset(child + inlen, ' ', (size_t)width + 2);
    child[inlen + (size_t)width + 2] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0) fputs(indent, f);
        fprintf(f, "%*zu) ", width, i + 1);
        print_reply_tty(f, rcm_reply_element(r, i), child);
    }
    free(child);
}

/* redis-cli's non-terminal form: raw bytes, one element per line. */
static void print_reply_raw(FILE *f, const rcm_reply *r)
{
    size_t len = 0;
    const char *s;
    rcm_reply_kind kind = rcm_reply_type(r);
    if (is_aggregate(kind)) {
        size_t n = rcm_reply_length(r);
        for (size_t i = 0; i < n; i++) print_reply_raw(f, rcm_reply_element(r, i));
        return;
    }
    switch (kind) {
    case RCM_REPLY_INTEGER:
    case RCM_REPLY_BOOL:
        fprintf(f, "%lld\n", rcm_reply_integer(r));
        return;
    case RCM_REPLY_NIL:
        fputc('\n', f);
        return;
    default:
        s = rcm_reply_string(r, &len);
        fwrite(s ? s : "", 1, len, f);
        fputc('\n', f);
    }
}

void cli_print_reply(const cli_opts *opts, const rcm_reply *r)
{
    if (opts->raw) print_reply_raw(stdout, r);
    else print_reply_tty(stdout, r, "");
}
