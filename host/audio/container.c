/*
 * container.c: the allow-list of containers, decided from the first bytes before any decoder runs.
 *
 * Why before: libsndfile picks its parser from the same bytes, and some parsers misbehave on corrupt
 * input in ways a library cannot undo afterwards. Its SDS reader (libsndfile 1.2.0 src/sds.c,
 * sds_2byte_read/sds_3byte_read/sds_4byte_read) calls printf("Error A : %02X\n") for every damaged
 * 127-byte block, already while sf_open reads the first block: a 104-byte corrupt .sds file printed
 * 106,784 lines on stdout and then decoded to garbage. Its ALAC reader (src/alac.c, reached through
 * CAF) prints "compressed frame too big" and the like the same way. libmpg123, which libsndfile uses
 * for MPEG audio, prints "error: dequantization failed!" on stderr for corrupt frames because
 * libsndfile never sets MPG123_QUIET (src/mpeg_decode.c, mpeg_decoder_init); afx decodes MPEG itself
 * with that flag (reader_mpeg.c), and refuses MPEG audio inside WAV, which would go through
 * libsndfile. The magic numbers below are those of libsndfile 1.2.0's guess_file_type (src/sndfile.c),
 * so a container accepted here is the one libsndfile then opens; reader_sndfile.c checks that too.
 */
#include "audio_internal.h"

#include <stdio.h>
#include <string.h>

enum {
    HEAD = 64,             /* bytes examined at the start (after ID3v2 tags) */
    ID3_TAGS_MAX = 8,      /* consecutive ID3v2 tags skipped before giving up */
    RIFF_WALK_MAX = 1 << 16 /* bytes of RIFF chunks walked to find "fmt " */
};

static const char SUPPORTED[] = "supported: WAV, RF64, W64, AIFF, AU, CAF, FLAC, Ogg Vorbis/Opus, MP2/MP3";

const char *afx_container_name(afx_container c)
{
    switch (c) {
    case AFX_CONTAINER_WAV: return "WAV";
    case AFX_CONTAINER_RF64: return "RF64";
    case AFX_CONTAINER_W64: return "W64";
    case AFX_CONTAINER_AIFF: return "AIFF";
    case AFX_CONTAINER_AU: return "AU";
    case AFX_CONTAINER_CAF: return "CAF";
    case AFX_CONTAINER_FLAC: return "FLAC";
    case AFX_CONTAINER_OGG: return "Ogg";
    case AFX_CONTAINER_MPEG: return "MPEG audio";
    }
    return "?";
}

int afx_container_sf_major(afx_container c)
{
    switch (c) {
    case AFX_CONTAINER_WAV: return SF_FORMAT_WAV; /* or SF_FORMAT_WAVEX: the caller accepts both */
    case AFX_CONTAINER_RF64: return SF_FORMAT_RF64;
    case AFX_CONTAINER_W64: return SF_FORMAT_W64;
    case AFX_CONTAINER_AIFF: return SF_FORMAT_AIFF;
    case AFX_CONTAINER_AU: return SF_FORMAT_AU;
    case AFX_CONTAINER_CAF: return SF_FORMAT_CAF;
    case AFX_CONTAINER_FLAC: return SF_FORMAT_FLAC;
    case AFX_CONTAINER_OGG: return SF_FORMAT_OGG;
    case AFX_CONTAINER_MPEG: return 0;
    }
    return 0;
}

static int at(const unsigned char *b, size_t n, size_t off, const char *magic)
{
    const size_t len = strlen(magic);
    return off + len <= n && memcmp(b + off, magic, len) == 0;
}

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static unsigned le16(const unsigned char *p) { return (unsigned)(p[0] | p[1] << 8); }
static unsigned be16(const unsigned char *p) { return (unsigned)(p[0] << 8 | p[1]); }

/* An MPEG audio frame header (ISO 11172-3 / 13818-3 and MPEG 2.5): sync, no reserved fields. */
static int mpeg_frame_header(const unsigned char *b, size_t n)
{
    if (n < 4 || b[0] != 0xFF || (b[1] & 0xE0) != 0xE0) return 0;
    const int version = (b[1] >> 3) & 3, layer = (b[1] >> 1) & 3;
    const int bitrate = b[2] >> 4, rate = (b[2] >> 2) & 3;
    return version != 1 && layer != 0 && bitrate != 15 && rate != 3;
}

/* The name of a container libsndfile (or the world) knows but afx refuses; NULL when unknown. */
static const char *refused_name(const unsigned char *b, size_t n)
{
    if (n >= 4 && b[0] == 0xF0 && b[1] == 0x7E && (b[2] & 0x80) == 0 && b[3] == 0x01)
        return "MIDI Sample Dump Standard (SDS)";
    if (at(b, n, 0, "FORM") && (at(b, n, 8, "8SVX") || at(b, n, 8, "16SV"))) return "IFF 8SVX/16SV";
    if (at(b, n, 0, "fap ") || at(b, n, 0, " paf")) return "Ensoniq PARIS (PAF)";
    if (at(b, n, 0, "NIST")) return "NIST SPHERE";
    if (at(b, n, 0, "Creative Voice")) return "Creative VOC";
    if (n >= 4 && ((b[0] == 0x64 && b[1] == 0xA3 && (b[2] & 0xF8) == 0 && b[3] == 0) ||
                   (b[0] == 0 && (b[1] & 0xF8) == 0 && b[2] == 0xA3 && b[3] == 0x64)))
        return "IRCAM/BICSF";
    if (at(b, n, 0, "MATLAB 5") || (n >= 12 && memcmp(b, "\0\0\x03\xE8\0\0\0\1\0\0\0\1", 12) == 0) ||
        (n >= 12 && memcmp(b, "\0\0\0\0\1\0\0\0\1\0\0\0", 12) == 0))
        return "MATLAB";
    if (at(b, n, 0, "PVF1")) return "Portable Voice Format (PVF)";
    if (at(b, n, 0, "Extended Ins")) return "FastTracker 2 XI";
    if (at(b, n, 0, "ALawSoundFil")) return "Psion WVE";
    if (at(b, n, 0, "DiamondWare ")) return "DiamondWare DWD";
    if (at(b, n, 0, "LM89") || (n >= 4 && memcmp(b, "53\0\0", 4) == 0)) return "Yamaha TX16W";
    if (at(b, n, 0, "CAT ") && at(b, n, 8, "REX2")) return "REX2";
    if (at(b, n, 0, "2BIT")) return "Audio Visual Research (AVR)";
    if (n >= 8 && memcmp(b, "\x30\x26\xB2\x75\x8E\x66\xCF\x11", 8) == 0) return "ASF/WMA";
    if (at(b, n, 4, "ftyp")) return "MP4/M4A";
    if (at(b, n, 0, "wvpk")) return "WavPack";
    if (at(b, n, 0, "MAC ")) return "Monkey's Audio";
    if (at(b, n, 0, "ajkg")) return "Shorten";
    if (at(b, n, 0, "MThd")) return "MIDI (no audio)";
    if (n >= 2 && b[0] == 0xFF && (b[1] & 0xF6) == 0xF0) return "AAC (ADTS)";
    return NULL;
}

/* Bytes of the ID3v2 tag at b (10-byte header + syncsafe size + optional footer), or 0. */
static int64_t id3v2_size(const unsigned char *b, size_t n)
{
    if (n < 10 || !at(b, n, 0, "ID3") || b[3] == 0xFF || b[4] == 0xFF) return 0;
    if ((b[6] | b[7] | b[8] | b[9]) & 0x80) return 0;
    const int64_t body = (int64_t)b[6] << 21 | (int64_t)b[7] << 14 | (int64_t)b[8] << 7 | b[9];
    return 10 + body + ((b[5] & 0x10) ? 10 : 0);
}

/* WAVE format tags that libsndfile would hand to libmpg123 (src/wavlike.h: MPEG, MPEGLAYER3). */
static int mpeg_wave_tag(unsigned tag) { return tag == 0x0050 || tag == 0x0055; }

/*
 * Walks the RIFF/RIFX/RF64 chunks after the 12-byte header to the "fmt " chunk and checks its codec
 * (for WAVE_FORMAT_EXTENSIBLE, the first two bytes of the SubFormat GUID). 0 when refused.
 */
static int wave_codec_allowed(afx_source *src, int64_t base, int big_endian, unsigned *tag_out)
{
    int64_t pos = base + 12;
    unsigned char h[8 + 26];
    while (pos - base < RIFF_WALK_MAX) {
        const int64_t got = afx_source_pread(src, pos, h, (int64_t)sizeof h);
        if (got < 8) return 1; /* no "fmt " here: libsndfile will say what is wrong */
        const uint32_t size = big_endian ? be32(h + 4) : le32(h + 4);
        if (memcmp(h, "fmt ", 4) == 0) {
            if (got < 10) return 1;
            unsigned tag = big_endian ? be16(h + 8) : le16(h + 8);
            if (tag == 0xFFFE && got >= 8 + 26) tag = big_endian ? be16(h + 8 + 24) : le16(h + 8 + 24);
            *tag_out = tag;
            return !mpeg_wave_tag(tag);
        }
        if (memcmp(h, "data", 4) == 0) return 1;
        pos += 8 + (int64_t)size + (size & 1);
    }
    return 1;
}

afx_status afx_container_sniff(afx_source *src, afx_container *out, char *err, size_t err_size)
{
    unsigned char b[HEAD];
    int64_t base = 0, got = 0;
    for (int tags = 0;; ++tags) {
        got = afx_source_pread(src, base, b, HEAD);
        if (got < 0) {
            afx_audio_err(err, err_size, "%s: cannot read its header", src->name);
            return AFX_ERR_IO;
        }
        const int64_t skip = id3v2_size(b, (size_t)got);
        if (skip == 0 || tags == ID3_TAGS_MAX) break;
        base += skip;
    }
    const size_t n = (size_t)got;
    afx_container c = 0;
    if ((at(b, n, 0, "RIFF") || at(b, n, 0, "RIFX")) && at(b, n, 8, "WAVE")) c = AFX_CONTAINER_WAV;
    else if (at(b, n, 0, "RF64") && at(b, n, 8, "WAVE")) c = AFX_CONTAINER_RF64;
    else if (at(b, n, 0, "riff") && at(b, n, 24, "wave")) c = AFX_CONTAINER_W64;
    else if (at(b, n, 0, "FORM") && (at(b, n, 8, "AIFF") || at(b, n, 8, "AIFC"))) c = AFX_CONTAINER_AIFF;
    else if (at(b, n, 0, ".snd") || at(b, n, 0, "dns.")) c = AFX_CONTAINER_AU;
    else if (at(b, n, 0, "caff") && at(b, n, 8, "desc")) c = AFX_CONTAINER_CAF;
    else if (at(b, n, 0, "fLaC")) c = AFX_CONTAINER_FLAC;
    else if (at(b, n, 0, "OggS")) c = AFX_CONTAINER_OGG;
    else if (mpeg_frame_header(b, n)) c = AFX_CONTAINER_MPEG;

    if (c == AFX_CONTAINER_WAV || c == AFX_CONTAINER_RF64) {
        unsigned tag = 0;
        if (!wave_codec_allowed(src, base, at(b, n, 0, "RIFX"), &tag)) {
            afx_audio_err(err, err_size, "%s: cannot decode: MPEG audio inside %s (format tag 0x%04X) is not "
                          "supported; give the MP3 itself (%s)", src->name, afx_container_name(c), tag, SUPPORTED);
            return AFX_ERR_DECODE;
        }
    }
    /* CAF's first chunk is "desc" (Apple CAF specification): mFormatID follows its 8-byte rate. */
    if (c == AFX_CONTAINER_CAF && (n < 32 || at(b, n, 28, "alac"))) {
        afx_audio_err(err, err_size, "%s: cannot decode: %s (%s)", src->name,
                      n < 32 ? "CAF header cut short" : "ALAC in CAF is not supported", SUPPORTED);
        return AFX_ERR_DECODE;
    }
    if (c) {
        *out = c;
        return AFX_OK;
    }
    const char *known = refused_name(b, n);
    if (known) {
        afx_audio_err(err, err_size, "%s: cannot decode: %s files are not supported (%s)", src->name, known,
                      SUPPORTED);
        return AFX_ERR_DECODE;
    }
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0, len = 0; i < n && i < 8; ++i, len = strlen(hex))
        snprintf(hex + len, sizeof hex - len, "%s%02X", i ? " " : "", b[i]);
    afx_audio_err(err, err_size, "%s: cannot decode: not a supported audio container (%s%s%s; %s)", src->name,
                  base ? "after ID3 tags, " : "", n ? "first bytes " : "nothing", hex, SUPPORTED);
    return AFX_ERR_DECODE;
}
