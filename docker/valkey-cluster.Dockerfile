# Valkey node for a Valkey Cluster (3 primaries + 3 replicas in scripts/start_valkey_cluster.sh).
#
# Build (from the repository root):
#   docker build -f docker/valkey-cluster.Dockerfile -t valkey-cluster .
#
# Run one node (see docker/valkey-cluster-entrypoint.sh for every variable):
#   docker run -d --name valkey-1 --net valkey-net -p 7001:7001 -p 17001:17001 \
#     -e NODE_ID=1 -e VALKEY_PORT=7001 -e VALKEY_PASSWORD=abc123 \
#     -e CLUSTER_ANNOUNCE_IP=valkey-1 valkey-cluster
#
# The entrypoint writes /data/valkey-cluster-${NODE_ID}.conf (cluster-enabled yes,
# cluster-config-file nodes-${NODE_ID}.conf, appendonly yes, dir /data, bind 0.0.0.0,
# protected-mode no, optional requirepass/masterauth and cluster-announce-*), as in
# https://valkey.io/topics/cluster-tutorial/, and hands over to the official
# docker-entrypoint.sh, which drops root and runs valkey-server.
#
# The same entrypoint starts the nodes of `scripts/start_valkey_cluster.sh --native` and of
# the test harness's cluster on the host (VALKEY_BIND, VALKEY_DATA_DIR, VALKEY_SERVER), so
# both run this image's configuration; tools.cluster_recipe and cluster.recipe check it.
FROM valkey/valkey:7.2-alpine

COPY docker/valkey-cluster-entrypoint.sh /usr/local/bin/valkey-cluster-entrypoint.sh
RUN chmod 0755 /usr/local/bin/valkey-cluster-entrypoint.sh

ENV VALKEY_PORT=6379

WORKDIR /data
VOLUME /data

# Client port and cluster bus port (VALKEY_PORT and VALKEY_PORT+10000 for the default
# port; publish the real ones with -p when VALKEY_PORT is changed).
EXPOSE 6379 16379

HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=5 \
  CMD ["sh", "-c", "if [ -n \"${VALKEY_PASSWORD:-}\" ]; then export REDISCLI_AUTH=\"$VALKEY_PASSWORD\"; fi; valkey-cli -p \"${VALKEY_PORT:-6379}\" ping | grep -q PONG"]

ENTRYPOINT ["valkey-cluster-entrypoint.sh"]
CMD []
