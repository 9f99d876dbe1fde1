/* Wireshark's ESP SA table (the "esp_sa" UAT file), so that captures of
 * espnat's traffic decrypt in Wireshark and tshark. It holds the keys:
 * written only when asked for, mode 0600. */
#ifndef ESPNAT_TOOLS_WIRESHARK_H
#define ESPNAT_TOOLS_WIRESHARK_H

#include "engine/sad.h"

/* Writes one line per SA of @sad to @path (created 0600). Returns 0, or -1
 * with errno set. Wireshark reads it from $XDG_CONFIG_HOME/wireshark/esp_sa
 * (or ~/.config/wireshark/esp_sa) with the preferences
 * esp.enable_encryption_decode and esp.enable_authentication_check on. */
int wireshark_write_esp_sa(const char *path, const struct esp_sad *sad);

#endif
