/* The UDP encapsulation table (TR 33.803 B.4.1, Annex D A.7.2): one row per
 * SA, the SAs grouped by registration (reqid). A group holds the UE's
 * NAT-mapped port, port_Uenc: unknown until the first authenticated
 * ESP-in-UDP packet of the registration arrives (SM7), then used as the
 * destination of every outbound SA of the group, and moved only by later
 * authenticated packets from the same address (RFC 3947 section 7). */
#ifndef ESPNAT_ENCAP_TABLE_H
#define ESPNAT_ENCAP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/addr.h"
#include "engine/htable.h"
#include "engine/sa.h"

struct encap_group {
	uint32_t reqid;
	struct esp_sa *members;		/* linked through sa->group_next */
	uint32_t nmembers;
	struct esp_addr peer;		/* the far end (the UE, at a P-CSCF) */
	bool has_peer;
	uint16_t port;			/* learned port_Uenc; 0 = undef (atomic) */
	uint16_t peer_ports[2];		/* the far end's protected ports */
	uint8_t npeer_ports;
	bool in_clash_index;
	bool silent;			/* reported silent, not heard since (atomic) */
	uint64_t last_seen_ms;		/* last authenticated packet or keepalive (atomic) */
	struct hnode reqid_node;
	struct hnode binding_node;	/* (peer, port) -> group, when learned */
	struct hnode clash_node;	/* (peer, both protected ports) */
	struct encap_group *next;	/* all groups, in creation order */
	struct encap_group *prev;
};

struct encap_table;

struct encap_table *encap_table_new(void);
void encap_table_free(struct encap_table *t);

/* Checks whether @sa may join its group: refuses (with @why) a group that
 * would have more than two protected ports on the far side, or whose far
 * address and two protected ports equal another registration's (several
 * UEs behind one NAT that picked the same ports, TR 33.803 B.5). Changes
 * nothing. SAs without a reqid are not grouped and always pass. */
int encap_table_check(const struct encap_table *t, const struct esp_sa *sa,
		      const char **why);

/* Adds @sa to the group of its reqid, creating the group; sets sa->group.
 * Call after encap_table_check() passed. Sets *@created when the group is
 * new. Returns 0 or -ENOMEM. */
int encap_table_attach(struct encap_table *t, struct esp_sa *sa, bool *created);

/* Takes @sa out of its group; frees the group when it was the last member
 * and then returns true (its reqid stays in *@reqid for the caller). */
bool encap_table_detach(struct encap_table *t, struct esp_sa *sa,
			uint32_t *reqid);

enum encap_learn {
	ENCAP_LEARN_NONE,	/* nothing changed */
	ENCAP_LEARN_LEARNED,	/* first port of the group */
	ENCAP_LEARN_MOVED,	/* the NAT rebound: a new port replaced the old */
	ENCAP_LEARN_REFUSED,	/* from an address that is not the SA's own */
};

/* Called for an inbound ESP-in-UDP packet on @sa whose ICV verified and
 * which passed the replay check, never earlier. @src/@sport are its outer
 * source. Learns or moves the group's port; *@old gets the previous one. */
enum encap_learn encap_table_learn(struct encap_table *t, struct esp_sa *sa,
				   const struct esp_addr *src, uint16_t sport,
				   uint64_t now_ms, uint16_t *old);

/* The destination port for outbound @sa: the learned port_Uenc of its
 * group, else the port configured on the SA (0 when neither: undef). */
uint16_t encap_table_dport(const struct esp_sa *sa);

/* A NAT keepalive from @src:@sport: marks the registration that learned
 * that binding as alive. Returns the group, or NULL when none matches.
 * Keepalives are not authenticated: they never move a port. */
struct encap_group *encap_table_keepalive(struct encap_table *t,
					  const struct esp_addr *src,
					  uint16_t sport, uint64_t now_ms);

struct encap_group *encap_table_group(const struct encap_table *t,
				      uint32_t reqid);

/* Where the UE role sends this registration's keepalives: the addresses
 * and encapsulation ports of its first outbound ESP-in-UDP SA. False when
 * it has none (no NAT on the path: nothing to keep alive). */
bool encap_group_keepalive_target(const struct encap_group *g,
				  struct esp_addr *src, struct esp_addr *dst,
				  uint16_t *sport, uint16_t *dport);

/* All groups, in the order they were created. */
struct encap_group *encap_table_first(const struct encap_table *t);
static inline struct encap_group *encap_table_next(const struct encap_group *g)
{
	return g->next;
}

size_t encap_table_count(const struct encap_table *t);

/* Formats @g in the layout of TR 33.803 Annex D A.7.2: one column per SA,
 * rows Src Addr, Dest Addr, Src Port, Dest Port, SPI; "undef" for a port
 * not learned yet. Returns what snprintf would. */
int encap_table_format_group(const struct encap_group *g, char *buf,
			     size_t len);

#endif
