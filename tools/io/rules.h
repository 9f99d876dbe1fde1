/* Installing and removing the rules that divert packets to espnatd: the
 * NFQUEUE path (nftables first, the xt NFQUEUE target through iptables where
 * the kernel lacks nft's queue statement) and the TUN path (iproute2 policy
 * routing plus drop rules). Every change is made by running nft, iptables,
 * ip6tables or ip from PATH, without a shell. All of it is fail closed: no
 * queue bypass, and plaintext to a protected port is dropped.
 *
 * What is installed (names are fixed so that a later run or `espnat cleanup`
 * finds what a crashed daemon left):
 *   nft table inet espnatd      chains prerouting/output, priority -300
 *   nft table inet espnatd_tun  chain prerouting, priority -300
 *   nft table inet espnatd_guard chain output: drops ICMP errors quoting a
 *                               protected port (both paths)
 *   iptables/ip6tables -t raw   chains ESPNATD_PRE, ESPNATD_OUT, ESPNATD_TUN,
 *                               ESPNATD_GUARD (u32)
 *   ip [-6] rule pref 10500     one per protected port and protocol
 *   ip [-6] route table T       default dev <tun>
 */
#ifndef ESPNAT_RULES_H
#define ESPNAT_RULES_H

#include <stddef.h>
#include <stdint.h>

#define RULES_MAX_PORTS 256
#define RULES_TUN_PREF 10500
#define RULES_DEFAULT_TABLE 4500

enum rules_backend { RULES_NONE, RULES_NFT, RULES_XT };

struct rules_config {
	unsigned queue;			/* first NFQUEUE number */
	unsigned queues;		/* how many (0 counts as 1); > 1 fans out by CPU */
	const uint16_t *ports;		/* protected ports; duplicates are merged */
	size_t nports;
	const char *tun_ifname;		/* TUN path only */
	unsigned tun_table;		/* TUN path only: routing table, 0 = 4500 */
};

/* Installs the NFQUEUE diversion, removing every stale espnatd rule (of both
 * paths) first. Tries nftables, then the xt NFQUEUE target. Returns 0 and
 * sets *@used; when it fell back to xt, @err holds why nft was refused (for
 * the log), else it is empty. Returns -1 with a message in @err (with the
 * tools' stderr) when nothing could be installed; nothing is left behind. */
int rules_install_nfqueue(const struct rules_config *c, enum rules_backend *used,
			  char *err, size_t errlen);

/* Installs the TUN path: drop rules for plaintext to the protected ports that
 * did not arrive through c->tun_ifname (nft, else xt; *@used says which), a
 * default route through the device in table c->tun_table and the policy
 * rules (pref 10500) that send the protected source ports there. The device
 * must exist and be up. Removes stale espnatd rules first. Same conventions
 * as rules_install_nfqueue. */
int rules_install_tun(const struct rules_config *c, enum rules_backend *used,
		      char *err, size_t errlen);

/* Removes every espnatd rule of both paths and both backends that exists;
 * what does not exist (nor a missing tool) is not an error. @tun_table is
 * the TUN path's table (0 = 4500); tables named by existing pref 10500 rules
 * are flushed too. Returns 0, or -1 with a message when something that
 * exists could not be removed (it still removes all it can). */
int rules_remove_all(unsigned tun_table, char *err, size_t errlen);

/* One line describing what is installed now, e.g. "nft table inet espnatd;
 * ip rules pref 10500 (4)", or "no espnatd rules". Returns 0, or -1 when a
 * tool could not be asked (the line then says which). */
int rules_describe(char *buf, size_t len);

/* "none", "nft" or "xt". */
const char *rules_backend_name(enum rules_backend b);

#endif
