/* rcm.h on its own, twice (include guard), used enough that every declaration is seen. */
#include <rcm/rcm.h>
#include <rcm/rcm.h>

int rcm_header_only_check(void);

int rcm_header_only_check(void) {
    rcm_status st = RCM_OK;
    rcm_reply_kind k = RCM_REPLY_NIL;
    rcm_event_kind e = RCM_EVENT_NODE_UP;
    rcm_callback cb = 0;
    rcm_event_callback ecb = 0;
    rcm_config *cfg = 0;
    rcm_client *cl = 0;
    rcm_pipeline *p = 0;
    rcm_lease *l = 0;
    rcm_reply *r = 0;
    (void)cb; (void)ecb; (void)cfg; (void)cl; (void)p; (void)l; (void)r;
    return (int)st + (int)k + (int)e + RCM_VERSION_MAJOR + RCM_VERSION_MINOR + RCM_VERSION_PATCH;
}
