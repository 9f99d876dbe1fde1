#include "tools/ctlclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tools/json.h"

int ctl_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

void ctl_send_line(int fd, const char *request)
{
	size_t len = strlen(request), off = 0;
	char *line = malloc(len + 1);

	if (!line)
		return;
	memcpy(line, request, len);
	line[len++] = '\n';
	while (off < len) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	OPENSSL_cleanse(line, len);
	free(line);
}

int ctl_call(const char *path, const char *request, char **answer, char *err,
	     size_t errlen)
{
	int fd = ctl_connect(path);

	*answer = NULL;
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* not through stdio: a stream whose write failed will not read */
	ctl_send_line(fd, request);
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t cap = 0;
	ssize_t n = getline(answer, &cap, f);
	fclose(f);
	if (n <= 0) {
		free(*answer);
		*answer = NULL;
		snprintf(err, errlen, "espnatd closed the connection");
		return -1;
	}
	if ((*answer)[n - 1] == '\n')
		(*answer)[n - 1] = '\0';
	return 0;
}

int ctl_ok(const char *path, const char *request, char *err, size_t errlen)
{
	char *answer;
	char jerr[JSON_ERRLEN];

	if (ctl_call(path, request, &answer, err, errlen))
		return -1;
	struct json_value *v = json_parse(answer, strlen(answer), jerr, sizeof(jerr));
	int ok = v && json_bool(json_get(v, "ok"), false);
	if (!ok)
		snprintf(err, errlen, "%s", v ? json_str(json_get(v, "error"), "failed") : jerr);
	json_free(v);
	OPENSSL_cleanse(answer, strlen(answer));
	free(answer);
	return ok ? 0 : -1;
}
