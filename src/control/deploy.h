/*
 * deploy: runs deployments as instance sets. Starting a generation brings
 * up a new set beside the serving one; when it is ready it takes over and
 * the old set drains and stops. A failed start leaves the old set serving
 * and marks the deployment Failed with the reason. State changes are
 * written to the store in the background. Event-loop thread only.
 */
#ifndef INF_CONTROL_DEPLOY_H
#define INF_CONTROL_DEPLOY_H

struct server;
struct deployment;

/* Starts instances for d's current spec and generation. */
void deploy_start(struct server *srv, struct deployment *d);
/* Stops every instance of d (serving and starting); d may be freed after. */
void deploy_stop(struct deployment *d);
/* Stops every deployment of every endpoint (shutdown). */
void deploy_stop_all(struct server *srv);

#endif
