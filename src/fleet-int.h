/*
 * fleet-int.h: what fleet.c (this host in the fleet) and fleet-deploy.c
 * (fleet deploys) share; no other file includes it.
 */
#ifndef FLEET_INT_H
#define FLEET_INT_H

struct fleet_part;
struct fleet_coord;

struct fleet {
	struct tend	*t;
	struct fleetrun	*run;
	/* the settings it runs with, to see what a reread changed */
	char		*url, *host, *user;
	uint64_t	 lease;
	uv_timer_t	 beat;
	uv_timer_t	 soon;		/* an app changed: beat shortly */
	unsigned	 open;		/* timers not yet closed */
	int		 up;		/* the helper is connected */
	int		 schema;
	char		 detail[512];	/* why it is down */
	char		 db_time[40];	/* of the last heartbeat written */
	uv_timer_t	 orders;	/* read this host's fleet order */
	int		 asking_orders;
	struct fleet_part *part;	/* this host in the running deploy */
	unsigned	 parts_running;	/* parts whose deploy has not answered */
	struct fleet_coord *coord;	/* the deploy this host holds */
	json_t		*tried;		/* app: the fleet sha it converged to */
};

/* fleet.c */
void	fleet_ask(struct fleet *, json_t *req, fleet_reply_cb, void *);
void	fleet_ask_quiet(struct fleet *, json_t *req);

/* fleet-deploy.c */
void	fleet_orders_tick(struct fleet *);
void	fleet_parts_drop(struct fleet *);
void	fleet_coord_drop(struct fleet *);

#endif /* FLEET_INT_H */
