/* The espnat subcommands, one file each. */
#ifndef ESPNAT_TOOLS_COMMANDS_H
#define ESPNAT_TOOLS_COMMANDS_H

int cmd_pcap(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_cleanup(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
