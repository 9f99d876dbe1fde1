/* Reading captures of any common link type as IP packets, and writing
 * raw-IP (LINKTYPE_RAW) captures. */
#ifndef ESPNAT_PCAPFILE_H
#define ESPNAT_PCAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

struct pcap_reader;
struct pcap_writer;

/* Opens @path; on failure returns NULL with a message in @err. */
struct pcap_reader *pcap_reader_open(const char *path, char *err, size_t errlen);

enum pcap_next_result {
	PCAP_NEXT_IP,		/* ip and len hold an IPv4 or IPv6 packet */
	PCAP_NEXT_OTHER,	/* a frame that carries no IP (ARP, ...) */
	PCAP_NEXT_END,
	PCAP_NEXT_ERROR,	/* the file is damaged; see pcap_reader_error */
};

/* The next frame. @ip points into the reader's buffer until the next call;
 * @len is what the capture holds of the IP packet. */
enum pcap_next_result pcap_reader_next(struct pcap_reader *r,
				       const uint8_t **ip, uint32_t *len,
				       struct timeval *ts);

const char *pcap_reader_error(struct pcap_reader *r);
const char *pcap_reader_linktype(struct pcap_reader *r);
void pcap_reader_close(struct pcap_reader *r);

struct pcap_writer *pcap_writer_open(const char *path, char *err, size_t errlen);
int pcap_writer_write(struct pcap_writer *w, const uint8_t *ip, uint32_t len,
		      const struct timeval *ts);
/* Flushes and closes; returns -1 if anything failed to reach the file. */
int pcap_writer_close(struct pcap_writer *w);

#endif
