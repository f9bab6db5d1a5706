#include "failover_util.h"
int main(void) { return 77; }
