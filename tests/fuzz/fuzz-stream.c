/*
 * fuzz-stream.c - libFuzzer target for the cl-stream reader: any bytes fed
 * through a pipe must give records or one error, never a crash, a hang or a
 * read out of bounds.  Built and run by scripts/fuzz.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cl.h"

/* The reader alone is linked (lib/stream.c, lib/util.c); the header writer
 * for a tokenizer's stream, which it never calls, names these. */
int32_t cl_tokenizer_n_vocab(const struct cl_tokenizer *t) { (void)t; return 0; }
int32_t cl_tokenizer_bos(const struct cl_tokenizer *t) { (void)t; return -1; }
int32_t cl_tokenizer_eos(const struct cl_tokenizer *t) { (void)t; return -1; }
const char *cl_tokenizer_fingerprint(const struct cl_tokenizer *t) { (void)t; return ""; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The reader takes an fd; a memfd holds the input (a pipe would need a
	 * second thread for inputs larger than its buffer). */
	int fd = memfd_create("fuzz", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return 0;
	}
	struct cl_reader *r = cl_reader_open(fd, "fuzz");
	struct cl_record rec;
	float v[64];
	int n = 0;
	enum cl_status st;
	while ((st = cl_reader_next(r, &rec)) == CL_OK && n++ < 100000) {
		const struct cl_stream_info *in = cl_reader_info(r, NULL);
		if (rec.kind == CL_REC_VECTOR && in && in->width <= 64)
			cl_record_vector(r, &rec, v);
		(void)cl_reader_ready(r);
	}
	if (st != CL_OK && st != CL_ERR_EOF && strlen(cl_errmsg()) == 0)
		abort(); /* every failure names its fault */
	cl_reader_free(r);
	close(fd);
	return 0;
}
