#include "tools/io/pcapfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "engine/ip.h"

#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif
#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8

struct pcap_reader {
	pcap_t *p;
	int dlt;
	char err[PCAP_ERRBUF_SIZE + 64];
};

struct pcap_writer {
	pcap_t *p;
	pcap_dumper_t *d;
	int failed;
};

struct pcap_reader *pcap_reader_open(const char *path, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct pcap_reader *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->p = pcap_open_offline(path, ebuf);
	if (!r->p) {
		snprintf(err, errlen, "%s", ebuf);
		free(r);
		return NULL;
	}
	r->dlt = pcap_datalink(r->p);
	switch (r->dlt) {
	case DLT_EN10MB:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_NULL:
	case DLT_LOOP:
		return r;
	default:
		snprintf(err, errlen, "link type %s is not supported",
			 pcap_datalink_val_to_name(r->dlt) ?
			 pcap_datalink_val_to_name(r->dlt) : "?");
		pcap_close(r->p);
		free(r);
		return NULL;
	}
}

/* The offset of the IP header in an Ethernet frame (with up to two VLAN
 * tags), or -1 when the frame carries something else. */
static long ethernet_ip(const uint8_t *f, uint32_t len)
{
	uint32_t off = 12;

	for (int tags = 0; tags <= 2; tags++) {
		if (off + 2 > len)
			return -1;
		uint16_t type = get_be16(f + off);
		if (type == ETH_P_IP || type == ETH_P_IPV6)
			return off + 2;
		if (type != ETH_P_8021Q && type != ETH_P_8021AD)
			return -1;
		off += 4;
	}
	return -1;
}

static long frame_ip(int dlt, const uint8_t *f, uint32_t len)
{
	uint16_t type;

	switch (dlt) {
	case DLT_EN10MB:
		return ethernet_ip(f, len);
	case DLT_LINUX_SLL:	/* 16-byte cooked header, protocol at 14 */
		if (len < 16)
			return -1;
		type = get_be16(f + 14);
		return type == ETH_P_IP || type == ETH_P_IPV6 ? 16 : -1;
	case DLT_LINUX_SLL2:	/* 20-byte header, protocol first */
		if (len < 20)
			return -1;
		type = get_be16(f);
		return type == ETH_P_IP || type == ETH_P_IPV6 ? 20 : -1;
	case DLT_NULL:
	case DLT_LOOP:		/* a 4-byte family; the IP version decides */
		return len > 4 ? 4 : -1;
	default:
		return 0;
	}
}

enum pcap_next_result pcap_reader_next(struct pcap_reader *r,
				       const uint8_t **ip, uint32_t *len,
				       struct timeval *ts)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc = pcap_next_ex(r->p, &h, &data);

	if (rc == PCAP_ERROR_BREAK)
		return PCAP_NEXT_END;
	if (rc != 1) {
		snprintf(r->err, sizeof(r->err), "%s", pcap_geterr(r->p));
		return PCAP_NEXT_ERROR;
	}
	*ts = h->ts;
	long off = frame_ip(r->dlt, data, h->caplen);
	if (off < 0 || (uint32_t)off >= h->caplen)
		return PCAP_NEXT_OTHER;
	uint8_t version = data[off] >> 4;
	if (version != 4 && version != 6)
		return PCAP_NEXT_OTHER;
	*ip = data + off;
	*len = h->caplen - (uint32_t)off;
	return PCAP_NEXT_IP;
}

const char *pcap_reader_error(struct pcap_reader *r)
{
	return r->err;
}

const char *pcap_reader_linktype(struct pcap_reader *r)
{
	const char *n = pcap_datalink_val_to_name(r->dlt);
	return n ? n : "?";
}

void pcap_reader_close(struct pcap_reader *r)
{
	if (!r)
		return;
	pcap_close(r->p);
	free(r);
}

struct pcap_writer *pcap_writer_open(const char *path, char *err, size_t errlen)
{
	struct pcap_writer *w = calloc(1, sizeof(*w));

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* DLT_RAW is written as LINKTYPE_RAW (101): bare IPv4/IPv6 */
	w->p = pcap_open_dead(DLT_RAW, 65535);
	if (!w->p) {
		snprintf(err, errlen, "out of memory");
		free(w);
		return NULL;
	}
	w->d = pcap_dump_open(w->p, path);
	if (!w->d) {
		snprintf(err, errlen, "%s", pcap_geterr(w->p));
		pcap_close(w->p);
		free(w);
		return NULL;
	}
	return w;
}

int pcap_writer_write(struct pcap_writer *w, const uint8_t *ip, uint32_t len,
		      const struct timeval *ts)
{
	struct pcap_pkthdr h = { .ts = *ts, .caplen = len, .len = len };

	pcap_dump((u_char *)w->d, &h, ip);
	if (ferror(pcap_dump_file(w->d))) {
		w->failed = 1;
		return -1;
	}
	return 0;
}

int pcap_writer_close(struct pcap_writer *w)
{
	int ret = w->failed ? -1 : 0;

	if (pcap_dump_flush(w->d) != 0)
		ret = -1;
	pcap_dump_close(w->d);
	pcap_close(w->p);
	free(w);
	return ret;
}
