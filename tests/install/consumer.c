/* Built against an installed rcm (find_package or pkg-config): opens a client on
 * 127.0.0.1:<port>, SET/GET, checks the version. Strict C99. */
#include <rcm/rcm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char want[32], url[64];
    rcm_config *cfg;
    rcm_client *c = NULL;
    rcm_reply *r = NULL;
    rcm_status st;
    const char *set[3];
    const char *get[2];
    size_t len = 0;
    const char *s;
    int ok;

    if (argc != 2) {
        fprintf(stderr, "usage: consumer <port>\n");
        return 2;
    }
    sprintf(want, "%d.%d.%d", RCM_VERSION_MAJOR, RCM_VERSION_MINOR, RCM_VERSION_PATCH);
    if (strcmp(rcm_version(), want) != 0) {
        fprintf(stderr, "rcm_version() %s, header %s\n", rcm_version(), want);
        return 1;
    }
    cfg = rcm_config_new();
    sprintf(url, "redis://127.0.0.1:%d", atoi(argv[1]));
    st = rcm_config_from_url(cfg, url);
    if (st == RCM_OK) st = rcm_client_open(cfg, &c);
    rcm_config_free(cfg);
    if (st != RCM_OK) {
        fprintf(stderr, "open %s: %s %s\n", url, rcm_status_name(st), rcm_last_error());
        return 1;
    }
    set[0] = "SET"; set[1] = "install:consumer"; set[2] = "installed";
    get[0] = "GET"; get[1] = "install:consumer";
    st = rcm_command(c, 3, set, NULL, &r);
    rcm_reply_free(r);
    r = NULL;
    if (st == RCM_OK) st = rcm_command(c, 2, get, NULL, &r);
    s = rcm_reply_string(r, &len);
    ok = st == RCM_OK && s != NULL && len == 9 && memcmp(s, "installed", 9) == 0;
    rcm_reply_free(r);
    rcm_client_close(c);
    if (!ok) {
        fprintf(stderr, "SET/GET failed: %s %s\n", rcm_status_name(st), rcm_last_error());
        return 1;
    }
    printf("consumer: rcm %s OK\n", rcm_version());
    return 0;
}
