/*
 * target.c — the first seed of -u / -c for the tool's raw-hiredis sides (target.h): the
 * subset of rcm.h's URL grammar they need, and a context with the client's handshake.
 */
#include "target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pct_decode(char *dst, size_t cap, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%' && i + 2 < len) {
            char hex[3] = {src[i + 1], src[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end == '\0') {
                c = (char)v;
                i += 2;
            }
        }
        if (o + 1 >= cap) return -1;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return 0;
}

/* "host:port[,...]" or "[v6]:port[,...]": the first address. */
static bool parse_seed(cli_target *cfg, const char *s, size_t len)
{
    const char *comma = memchr(s, ',', len);
    if (comma) len = (size_t)(comma - s);
    if (len == 0) return false;
    const char *host = s, *port = NULL;
    size_t hostlen;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) return false;
        host = s + 1;
        hostlen = (size_t)(close - host);
        if ((size_t)(close - s) + 1 < len && close[1] == ':') port = close + 2;
    } else {
        const char *colon = memchr(s, ':', len);
        hostlen = colon ? (size_t)(colon - s) : len;
        if (colon) port = colon + 1;
    }
    if (hostlen == 0 || hostlen >= sizeof cfg->host) return false;
    memcpy(cfg->host, host, hostlen);
    cfg->host[hostlen] = '\0';
    if (port) {
        char buf[16];
        size_t plen = len - (size_t)(port - s);
        if (plen == 0 || plen >= sizeof buf) return false;
        memcpy(buf, port, plen);
        buf[plen] = '\0';
        long long p;
        if (!cli_parse_long(buf, 1, 65535, &p)) return false;
        cfg->port = (int)p;
    }
    return true;
}

static void apply_key(cli_target *cfg, const char *key, const char *value)
{
    if (strcmp(key, "seeds") == 0) parse_seed(cfg, value, strlen(value));
    else if (strcmp(key, "password") == 0) snprintf(cfg->password, sizeof cfg->password, "%s", value);
    else if (strcmp(key, "username") == 0) snprintf(cfg->username, sizeof cfg->username, "%s", value);
    else if (strcmp(key, "db") == 0) cfg->db = atoi(value);
    else if (strcmp(key, "mode") == 0) snprintf(cfg->mode, sizeof cfg->mode, "%s", value);
    else if (strcmp(key, "tls") == 0)
        cfg->tls = strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0;
}

/* The subset of the URL grammar of rcm.h the baselines need. The library has already
 * validated the URL (the client opened), so this only extracts. */
static void parse_url(cli_target *cfg, const char *url)
{
    const char *p = url;
    const char *sep = strstr(url, "://");
    if (sep) {
        size_t slen = (size_t)(sep - url);
        if (slen == 6 && strncmp(url, "rediss", 6) == 0) cfg->tls = true;
        else if (slen == 13 && strncmp(url, "redis+cluster", 13) == 0) snprintf(cfg->mode, sizeof cfg->mode, "cluster");
        else if (slen == 10 && strncmp(url, "redis+raft", 10) == 0) snprintf(cfg->mode, sizeof cfg->mode, "raft");
        else if (slen == 14 && strncmp(url, "redis+sentinel", 14) == 0) snprintf(cfg->mode, sizeof cfg->mode, "sentinel");
        p = sep + 3;
    }
    size_t authlen = strcspn(p, "/?");
    const char *at = NULL;
    for (const char *q = p; q < p + authlen; q++)
        if (*q == '@') at = q; /* the last '@' ends the credentials */
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            pct_decode(cfg->username, sizeof cfg->username, p, (size_t)(colon - p));
            pct_decode(cfg->password, sizeof cfg->password, colon + 1, (size_t)(at - colon - 1));
        } else {
            pct_decode(cfg->password, sizeof cfg->password, p, (size_t)(at - p));
        }
        authlen -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (authlen > 0) parse_seed(cfg, p, authlen);
    p += authlen;
    if (*p == '/') {
        p++;
        if (strcmp(cfg->mode, "sentinel") != 0 && *p >= '0' && *p <= '9') cfg->db = atoi(p);
        p += strcspn(p, "?");
    }
    if (*p == '?') {
        char *query = strdup(p + 1);
        if (!query) return;
        char *save = NULL;
        for (char *kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(kv, '=');
            if (!eq) continue;
            *eq = '\0';
            char val[512];
            if (pct_decode(val, sizeof val, eq + 1, strlen(eq + 1)) == 0) apply_key(cfg, kv, val);
        }
        free(query);
    }
}

void cli_target_from_opts(const cli_opts *opts, cli_target *t)
{
    *t = (cli_target){.port = 6379};
    snprintf(t->host, sizeof t->host, "127.0.0.1");
    if (opts->url) parse_url(t, opts->url);
    for (size_t i = 0; i < opts->nsettings; i++) apply_key(t, opts->settings[i].key, opts->settings[i].value);
}

bool cli_hiredis_ok(redisContext *c, redisReply *r, char *err, size_t errcap, const char *what)
{
    if (r == NULL) {
        snprintf(err, errcap, "%s: %s", what, c->errstr);
        return false;
    }
    bool ok = r->type != REDIS_REPLY_ERROR;
    if (!ok) snprintf(err, errcap, "%s: %s", what, r->str);
    freeReplyObject(r);
    return ok;
}

redisContext *cli_target_connect(const cli_target *t, const char *host, int port, char *err,
                                 size_t errcap)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err) {
        snprintf(err, errcap, "hiredis connect %.64s:%d: %.120s", host, port,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){10, 0});
    if (t->password[0]) {
        redisReply *r = t->username[0]
            ? redisCommand(c, "AUTH %s %s", t->username, t->password)
            : redisCommand(c, "AUTH %s", t->password);
        if (!cli_hiredis_ok(c, r, err, errcap, "AUTH")) { redisFree(c); return NULL; }
    }
    if (t->db != 0 && !cli_hiredis_ok(c, redisCommand(c, "SELECT %d", t->db), err, errcap, "SELECT")) {
        redisFree(c);
        return NULL;
    }
    return c;
}

double cli_server_cpu_s(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO cpu");
    double total = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *u = strstr(r->str, "used_cpu_user:");
        const char *s = strstr(r->str, "used_cpu_sys:");
        if (u && s) total = atof(u + 14) + atof(s + 13);
    }
    if (r) freeReplyObject(r);
    return total;
}
