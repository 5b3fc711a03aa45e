/*
 * replay.c - run a fuzz harness's LLVMFuzzerTestOneInput over files, so
 * that seeds and crashers found earlier are regression tests in the
 * normal (and sanitizer) build without libFuzzer.
 *
 *   replay_NAME FILE|DIR...    exit 0 when every input ran to its end
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n = 0, cap = 0, k;

	if (!f) {
		perror(path);
		return 1;
	}
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			unsigned char *b = realloc(buf, cap);
			if (!b) {
				fclose(f);
				free(buf);
				return 1;
			}
			buf = b;
		}
		k = fread(buf + n, 1, cap - n, f);
		n += k;
	} while (k > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int run_path(const char *path, int *count)
{
	struct stat st;
	struct dirent **ents;
	int n, rc = 0;

	if (stat(path, &st) < 0) {
		perror(path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	n = scandir(path, &ents, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.') {
			size_t len = strlen(path) + strlen(ents[i]->d_name) + 2;
			char *p = malloc(len);
			if (p) {
				snprintf(p, len, "%s/%s", path, ents[i]->d_name);
				rc |= run_path(p, count);
				free(p);
			}
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0, count = 0;

	for (int i = 1; i < argc; i++)
		rc |= run_path(argv[i], &count);
	printf("%d inputs\n", count);
	return rc;
}
