/* The ESP packets of RFC 3602 section 4 (cases 5 and 7: AES-CBC-128,
 * confidentiality only) decapsulated by the engine, and the plaintext
 * packets the RFC gives come out, IP header and checksum included. */
#include "engine/engine.h"
#include "test/unit/check.h"
#include "test/unit/testutil.h"

/* Case #5: transport-mode ESP, ping 192.168.123.3 -> 192.168.123.100. */
static const char case5_esp[] =
	"4500007c 08f20000 4032f9a5 c0a87b03 c0a87b64"
	"00004321 00000001"
	"e96e8c08 ab465763 fd098d45 dd3ff893"
	"f663c25d 325c18c6 a9453e19 4e120849 a4870b66 cc6b9965 330013b4 898dc856"
	"a4699e52 3a55db08 0b59ec3a 8e4b7e52 775b07d1 db34ed9c 538ab50c 551b874a"
	"a269add0 47ad2d59 13ac19b7 cfbad4a6";
static const char case5_plain[] =
	"45000054 08f20000 4001f9fe c0a87b03 c0a87b64"
	"08000ebd a70a0000 8e9c083d b95b0700 08090a0b 0c0d0e0f 10111213 14151617"
	"18191a1b 1c1d1e1f 20212223 24252627 28292a2b 2c2d2e2f 30313233 34353637";

/* Case #7: tunnel-mode ESP, ping 192.168.123.3 -> 192.168.123.200. */
static const char case7_esp[] =
	"4500008c 09050000 4032f91e c0a87b03 c0a87bc8"
	"00008765 00000002"
	"f4e76524 4f6407ad f13dc138 0f673f37"
	"773b5241 a4c44922 5e4f3ce5 ed611b0c 237ca96c f74a9301 3c1b0ea1 a0cf70f8"
	"e4ecaec7 8ac53aad 7a0f022b 859243c6 47752e94 a859352b 8a4d4d2d ecd136e5"
	"c177f132 ad3fbfb2 201ac990 4c74ee0a 109e0ca1 e4dfe9d5 a100b842 f1c22f0d";
static const char case7_plain[] =
	"45000054 09040000 4001f988 c0a87b03 c0a87bc8 08009f76 a90a0100 b49c083d"
	"02a20400 08090a0b 0c0d0e0f 10111213 14151617 18191a1b 1c1d1e1f 20212223"
	"24252627 28292a2b 2c2d2e2f 30313233 34353637";

static void decap_case(const char *sa_line, const char *esp_hex,
		       const char *plain_hex)
{
	static struct test_pkt t;
	uint8_t esp[256], plain[256];
	size_t elen = unhex(esp_hex, esp, sizeof(esp));
	size_t plen = unhex(plain_hex, plain, sizeof(plain));
	struct esp_engine *e = esp_engine_new();
	struct esp_worker *w = esp_worker_new(e);
	struct esp_result r;

	add_sa(e, sa_line);
	test_pkt_set(&t, esp, elen);
	CHECK_EQ(run(w, &t, &r), ESP_VERDICT_DECAP);
	CHECK_EQ(t.p.len, plen);
	CHECK_MEM(pkt_data(&t.p), plain, plen);

	/* the same packet again is a replay */
	test_pkt_set(&t, esp, elen);
	CHECK_EQ(run(w, &t, &r), ESP_VERDICT_DROP);
	CHECK_EQ(r.reason, ESP_DROP_REPLAY);
	esp_engine_free(e);
}

int main(void)
{
	decap_case("src 192.168.123.3 dst 192.168.123.100 proto esp spi 0x4321 "
		   "mode transport enc 'cbc(aes)' 0x90d382b410eeba7ad938c46cec1a82bf dir in",
		   case5_esp, case5_plain);
	decap_case("src 192.168.123.3 dst 192.168.123.200 proto esp spi 0x8765 "
		   "mode tunnel enc 'cbc(aes)' 0x0123456789abcdef0123456789abcdef dir in",
		   case7_esp, case7_plain);
	return check_done("test_rfc3602_esp");
}
