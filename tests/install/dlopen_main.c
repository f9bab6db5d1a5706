/* Loads librcm.so.0 at run time, as language bindings do, and uses it through dlsym. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rcm/rcm.h>

#define LOAD(var, name)                                                      \
    do {                                                                     \
        *(void **)(&var) = dlsym(lib, name);                                 \
        if (!var) {                                                          \
            fprintf(stderr, "dlsym(%s): %s\n", name, dlerror());             \
            return 1;                                                        \
        }                                                                    \
    } while (0)

int main(int argc, char **argv) {
    const char *(*version)(void);
    const char *(*status_name)(rcm_status);
    rcm_config *(*config_new)(void);
    rcm_status (*config_from_url)(rcm_config *, const char *);
    void (*config_free)(rcm_config *);
    rcm_status (*client_open)(const rcm_config *, rcm_client **);
    rcm_status (*command)(rcm_client *, int, const char *const *, const size_t *, rcm_reply **);
    const char *(*reply_string)(const rcm_reply *, size_t *);
    void (*reply_free)(rcm_reply *);
    void (*client_close)(rcm_client *);
    void *lib;
    char url[64];
    rcm_config *cfg;
    rcm_client *c = NULL;
    rcm_reply *r = NULL;
    rcm_status st;
    const char *echo[2];
    size_t len = 0;
    const char *s;
    int ok;

    if (argc != 2) {
        fprintf(stderr, "usage: dlopen_main <port>\n");
        return 2;
    }
    lib = dlopen("librcm.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen(librcm.so.0): %s\n", dlerror());
        return 1;
    }
    LOAD(version, "rcm_version");
    LOAD(status_name, "rcm_status_name");
    LOAD(config_new, "rcm_config_new");
    LOAD(config_from_url, "rcm_config_from_url");
    LOAD(config_free, "rcm_config_free");
    LOAD(client_open, "rcm_client_open");
    LOAD(command, "rcm_command");
    LOAD(reply_string, "rcm_reply_string");
    LOAD(reply_free, "rcm_reply_free");
    LOAD(client_close, "rcm_client_close");

    if (strcmp(status_name(RCM_ERR_TIMEOUT), "RCM_ERR_TIMEOUT") != 0) return 1;
    cfg = config_new();
    sprintf(url, "redis://127.0.0.1:%d", atoi(argv[1]));
    st = config_from_url(cfg, url);
    if (st == RCM_OK) st = client_open(cfg, &c);
    config_free(cfg);
    if (st != RCM_OK) {
        fprintf(stderr, "open %s: %s\n", url, status_name(st));
        return 1;
    }
    echo[0] = "ECHO";
    echo[1] = "through dlopen";
    st = command(c, 2, echo, NULL, &r);
    s = reply_string(r, &len);
    ok = st == RCM_OK && s && len == strlen(echo[1]) && memcmp(s, echo[1], len) == 0;
    reply_free(r);
    client_close(c);
    if (!ok) {
        fprintf(stderr, "ECHO failed: %s\n", status_name(st));
        return 1;
    }
    printf("dlopen: rcm %s OK\n", version());
    /* No dlclose: libevent's evthread_use_pthreads() keeps two global locks for the life
     * of the process, which LeakSanitizer reports once the library is unloaded. */
    return 0;
}
