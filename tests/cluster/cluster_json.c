/* The small JSON reader of the cluster tests (cj_*, cluster_util.h): enough for rcm's
 * topology and stats JSON. Split from cluster_util.c. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON ------------------------------------------------------------------------------ */

static const char *cj_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static const char *cj_value(const char *p, cj **out, int depth);

static const char *cj_string(const char *p, char **out) {
    if (*p != '"') return NULL;
    p++;
    size_t cap = 16, len = 0;
    char *s = malloc(cap);
    while (*p && *p != '"') {
        char c = *p;
        if (c == '\\') {
            p++;
            switch (*p) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u':
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i])) {
                        free(s);
                        return NULL;
                    }
                c = '?';
                p += 4;
                break;
            case '"': case '\\': case '/': c = *p; break;
            default: free(s); return NULL;
            }
        } else if ((unsigned char)c < 0x20) {
            free(s);
            return NULL;
        }
        if (len + 2 > cap) s = realloc(s, cap *= 2);
        s[len++] = c;
        p++;
    }
    if (*p != '"') {
        free(s);
        return NULL;
    }
    s[len] = 0;
    *out = s;
    return p + 1;
}

static cj *cj_new(cj_kind k) {
    cj *v = calloc(1, sizeof *v);
    v->kind = k;
    return v;
}

static void cj_push(cj *v, char *key, cj *item) {
    v->items = realloc(v->items, (v->n + 1) * sizeof *v->items);
    v->items[v->n] = item;
    if (v->kind == CJ_OBJ) {
        v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
        v->keys[v->n] = key;
    }
    v->n++;
}

static const char *cj_value(const char *p, cj **out, int depth) {
    *out = NULL;
    if (depth > 64) return NULL;
    p = cj_ws(p);
    if (*p == '{' || *p == '[') {
        int obj = *p == '{';
        cj *v = cj_new(obj ? CJ_OBJ : CJ_ARR);
        *out = v;
        p = cj_ws(p + 1);
        if (*p == (obj ? '}' : ']')) return p + 1;
        for (;;) {
            char *key = NULL;
            if (obj) {
                p = cj_string(cj_ws(p), &key);
                if (!p) return NULL;
                p = cj_ws(p);
                if (*p != ':') {
                    free(key);
                    return NULL;
                }
                p++;
            }
            cj *item = NULL;
            p = cj_value(p, &item, depth + 1);
            if (!p) {
                free(key);
                cj_free(item);
                return NULL;
            }
            cj_push(v, key, item);
            p = cj_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == (obj ? '}' : ']')) return p + 1;
            return NULL;
        }
    }
    if (*p == '"') {
        cj *v = cj_new(CJ_STR);
        *out = v;
        return cj_string(p, &v->str);
    }
    if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
        cj *v = cj_new(CJ_BOOL);
        v->boolean = *p == 't';
        *out = v;
        return p + (*p == 't' ? 4 : 5);
    }
    if (!strncmp(p, "null", 4)) {
        *out = cj_new(CJ_NULL);
        return p + 4;
    }
    char *end = NULL;
    errno = 0;
    double d = strtod(p, &end);
    if (end == p || !(isdigit((unsigned char)*p) || *p == '-')) return NULL;
    cj *v = cj_new(CJ_NUM);
    v->num = d;
    *out = v;
    return end;
}

cj *cj_parse(const char *text) {
    if (!text) return NULL;
    cj *v = NULL;
    const char *end = cj_value(text, &v, 0);
    if (!end || *cj_ws(end) != 0) {
        cj_free(v);
        return NULL;
    }
    return v;
}

void cj_free(cj *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        cj_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

const cj *cj_get(const cj *obj, const char *key) {
    if (!obj || obj->kind != CJ_OBJ) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}

const cj *cj_at(const cj *arr, size_t i) {
    if (!arr || (arr->kind != CJ_ARR && arr->kind != CJ_OBJ) || i >= arr->n) return NULL;
    return arr->items[i];
}

const char *cj_str(const cj *v) { return v && v->kind == CJ_STR ? v->str : NULL; }

double cj_num(const cj *v, double dflt) { return v && v->kind == CJ_NUM ? v->num : dflt; }
