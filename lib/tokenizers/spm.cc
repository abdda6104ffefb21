/*
 * spm.cc - the SentencePiece backend: the one C++ file, behind lib/tok.h.
 * Encoding is SentencePiece's own (normalisation, byte fallback, scores);
 * decoding is per piece, as SentencePiece's decoder does it, so that
 * cl-detok can stream.
 */
#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "tok.h"
}

namespace {

struct spm {
	sentencepiece::SentencePieceProcessor sp;
	std::vector<std::string> surface; /* (n_vocab) decoded text of each piece */
	std::vector<int> byte;            /* (n_vocab) the byte of <0xNN> pieces, else -1 */
	std::vector<std::string> specials; /* control pieces' text, longest first */
	std::vector<int> special_ids;
	bool strip_first;                  /* drop the dummy-prefix space of the first piece */
	std::string unk_surface;
};

const char kSpace[] = "\xe2\x96\x81"; /* U+2581, SentencePiece's space */

std::string replace_spaces(const std::string &s)
{
	std::string out;
	for (size_t i = 0; i < s.size();) {
		if (s.compare(i, 3, kSpace) == 0) {
			out += ' ';
			i += 3;
		} else {
			out += s[i++];
		}
	}
	return out;
}

enum cl_status encode_plain(const spm *m, const char *text, size_t len, std::vector<int> &out)
{
	std::vector<int> ids;
	auto st = m->sp.Encode(std::string(text, len), &ids);
	if (!st.ok())
		return cl_error(CL_ERR_FORMAT, "sentencepiece: %s", st.ToString().c_str());
	out.insert(out.end(), ids.begin(), ids.end());
	return CL_OK;
}

enum cl_status spm_encode(const struct cl_tokenizer *t, const char *text, size_t len, unsigned flags,
			  int32_t **ids, size_t *n)
{
	const spm *m = static_cast<const spm *>(t->impl);
	std::vector<int> out;
	enum cl_status st = CL_OK;
	try {
		if (flags & CL_ENCODE_BOS && t->bos >= 0)
			out.push_back(t->bos);
		size_t start = 0, i = 0;
		if (flags & CL_ENCODE_SPECIAL) {
			while (i < len && st == CL_OK) {
				size_t k = 0;
				for (; k < m->specials.size(); k++) {
					const std::string &s = m->specials[k];
					if (!s.empty() && len - i >= s.size() && memcmp(text + i, s.data(), s.size()) == 0)
						break;
				}
				if (k == m->specials.size()) {
					i++;
					continue;
				}
				if (i > start)
					st = encode_plain(m, text + start, i - start, out);
				out.push_back(m->special_ids[k]);
				i += m->specials[k].size();
				start = i;
			}
		}
		if (st == CL_OK && len > start)
			st = encode_plain(m, text + start, len - start, out);
		if (flags & CL_ENCODE_EOS && t->eos >= 0)
			out.push_back(t->eos);
	} catch (const std::bad_alloc &) {
		return cl_error(CL_ERR_NOMEM, "sentencepiece: out of memory");
	}
	if (st)
		return st;
	*ids = static_cast<int32_t *>(malloc((out.size() ? out.size() : 1) * sizeof(int32_t)));
	if (!*ids)
		return cl_error(CL_ERR_NOMEM, "sentencepiece: out of memory");
	for (size_t k = 0; k < out.size(); k++)
		(*ids)[k] = out[k];
	*n = out.size();
	return CL_OK;
}

int spm_decode(const struct cl_tokenizer *t, int32_t id, int first, char *buf, size_t cap)
{
	const spm *m = static_cast<const spm *>(t->impl);
	if (id < 0 || id >= t->n_vocab)
		return -1;
	if (t->control[id])
		return 0;
	if (m->byte[id] >= 0) {
		if (cap < 1)
			return 0;
		buf[0] = (char)m->byte[id];
		return 1;
	}
	const std::string &s = m->surface[id];
	size_t off = first && m->strip_first && !s.empty() && s[0] == ' ' ? 1 : 0;
	size_t n = s.size() - off;
	if (n > cap)
		n = cap;
	memcpy(buf, s.data() + off, n);
	return (int)n;
}

void spm_free(struct cl_tokenizer *t)
{
	delete static_cast<spm *>(t->impl);
	t->impl = nullptr;
}

} // namespace

/* The processor from a file, or (proto non-NULL) from a serialized
 * ModelProto that `file` names in messages. */
static enum cl_status spm_load(const char *file, const void *proto, size_t proto_len, struct cl_tokenizer *t)
{
	spm *m = new (std::nothrow) spm;
	if (!m)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", file);
	try {
		auto st = proto ? m->sp.LoadFromSerializedProto(
					  std::string(static_cast<const char *>(proto), proto_len))
				: m->sp.Load(file);
		if (!st.ok()) {
			std::string msg = st.ToString();
			delete m;
			/* SentencePiece says "... Not found: "path": No such file" or a parse failure. */
			if (msg.find("No such file") != std::string::npos)
				return cl_error(CL_ERR_IO, "%s: no such file", file);
			return cl_error(CL_ERR_FORMAT, "%s: not a SentencePiece model (%s)", file, msg.c_str());
		}
		int n = m->sp.GetPieceSize();
		if (n <= 0) {
			delete m;
			return cl_error(CL_ERR_FORMAT, "%s: empty vocabulary", file);
		}
		t->n_vocab = n;
		t->pieces = static_cast<char **>(calloc((size_t)n, sizeof(char *)));
		t->control = static_cast<unsigned char *>(calloc((size_t)n, 1));
		if (!t->pieces || !t->control)
			throw std::bad_alloc();
		m->surface.resize((size_t)n);
		m->byte.assign((size_t)n, -1);
		m->unk_surface = " \xe2\x81\x87 "; /* " ⁇ ", SentencePiece's default */
		for (int i = 0; i < n; i++) {
			const std::string &p = m->sp.IdToPiece(i);
			t->pieces[i] = strdup(p.c_str());
			if (!t->pieces[i])
				throw std::bad_alloc();
			if (m->sp.IsControl(i)) {
				t->control[i] = 1;
				m->specials.push_back(p);
				m->special_ids.push_back(i);
			} else if (m->sp.IsByte(i)) {
				m->byte[i] = (int)strtol(p.c_str() + 3, nullptr, 16); /* "<0xAB>" */
			} else if (m->sp.IsUnknown(i)) {
				m->surface[i] = m->unk_surface;
			} else {
				m->surface[i] = replace_spaces(p);
			}
		}
		/* Longest special first, so "<s>" never shadows a longer one. */
		for (size_t a = 0; a < m->specials.size(); a++)
			for (size_t b = a + 1; b < m->specials.size(); b++)
				if (m->specials[b].size() > m->specials[a].size()) {
					std::swap(m->specials[a], m->specials[b]);
					std::swap(m->special_ids[a], m->special_ids[b]);
				}
		t->bos = m->sp.bos_id();
		t->eos = m->sp.eos_id();
		if (t->bos >= n)
			t->bos = -1;
		if (t->eos >= n)
			t->eos = -1;
		/* SentencePiece drops the leading space of the first piece when the
		 * model adds a dummy prefix (or strips extra whitespace). */
		m->strip_first = true;
		{
			/* The normalizer spec is not exposed through the processor's
			 * API in every version; encoding "a" tells us whether a dummy
			 * prefix is added ("▁a") or not ("a"). */
			std::vector<std::string> pcs;
			m->sp.Encode("a", &pcs);
			m->strip_first = !pcs.empty() && pcs[0].compare(0, 3, kSpace) == 0;
			/* And whether runs of spaces collapse (remove_extra_whitespaces):
			 * then the decoder drops every leading whitespace piece. */
			std::vector<int> a, b;
			m->sp.Encode("a", &a);
			m->sp.Encode("  a", &b);
			t->ws_runs_first = a == b;
		}
	} catch (const std::bad_alloc &) {
		delete m;
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", file);
	}
	t->impl = m;
	t->add_bos = 1;
	t->utf8_only = 1;
	t->encode = spm_encode;
	t->decode = spm_decode;
	t->free = spm_free;
	return CL_OK;
}

extern "C" enum cl_status cl_spm_load(const char *file, struct cl_tokenizer *t)
{
	return spm_load(file, nullptr, 0, t);
}

extern "C" enum cl_status cl_spm_load_proto(const void *proto, size_t n, const char *name, struct cl_tokenizer *t)
{
	return spm_load(name, proto, n, t);
}
