/* Why a packet was not delivered. Every drop has one reason and one counter. */
#ifndef ESPNAT_DROP_H
#define ESPNAT_DROP_H

#define ESP_DROP_REASONS(X)						\
	X(MALFORMED, "malformed")	/* header truncated or lying */	\
	X(NO_SA, "no_sa")		/* no inbound SA for (SPI, dst) */ \
	X(UNPROTECTED, "unprotected")	/* protected port, no outbound SA */ \
	X(AUTH, "auth")			/* ICV did not verify */	\
	X(REPLAY, "replay")		/* duplicate or left of the window */ \
	X(BAD_LENGTH, "bad_length")	/* ciphertext not whole blocks */ \
	X(BAD_PADDING, "bad_padding")	/* padding not 1, 2, 3, ... */	\
	X(BAD_NEXT_HEADER, "bad_next_header") /* trailer names a wrong protocol */ \
	X(POLICY, "policy")		/* inner packet outside the SA's selector */ \
	X(DUMMY, "dummy")		/* RFC 4303 dummy packet (next header 59) */ \
	X(FRAGMENT, "fragment")		/* IP fragment on a protected path */ \
	X(SEQ_EXHAUSTED, "seq_exhausted") /* outbound SA used 2^32-1 */	\
	X(UNRESERVED, "unreserved")	/* sequence numbers not yet durable */ \
	X(NO_PORT, "no_port")		/* NAT port of the group not learned yet */ \
	X(TOO_BIG, "too_big")		/* would exceed 65535 bytes or the buffer */ \
	X(INTERNAL, "internal")		/* CSPRNG or cipher failure */

enum esp_drop {
#define X(id, name) ESP_DROP_##id,
	ESP_DROP_REASONS(X)
#undef X
	ESP_DROP__COUNT
};

/* The stable, lower-case name of @reason, as counters and JSON show it. */
const char *esp_drop_name(enum esp_drop reason);

#endif
