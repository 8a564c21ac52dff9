/*
 * reader_sndfile.c: frames from the containers libsndfile reads (WAV, RF64, W64, AIFF, AU, CAF,
 * FLAC, Ogg Vorbis/Opus), through its virtual I/O on an afx_source, so a path is never reopened.
 * The float samples are libsndfile's, as soundfile (and so librosa.load) gets them.
 */
#define _POSIX_C_SOURCE 200809L /* pthread */

#include "audio_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* sf_virtual_io over an afx_source; read-only. */
static sf_count_t vio_get_filelen(void *user) { return ((afx_source *)user)->size; }
static sf_count_t vio_seek(sf_count_t offset, int whence, void *user) { return afx_source_seek(user, offset, whence); }
static sf_count_t vio_read(void *ptr, sf_count_t count, void *user)
{
    const int64_t got = afx_source_read(user, ptr, count);
    return got < 0 ? 0 : got; /* libsndfile sees a short read; afx_source_check_io names the error */
}
static sf_count_t vio_write(const void *ptr, sf_count_t count, void *user)
{
    (void)ptr, (void)count, (void)user;
    return 0; /* opened SFM_READ: libsndfile never writes */
}
static sf_count_t vio_tell(void *user) { return ((afx_source *)user)->pos; }

/*
 * libsndfile keeps the reason for a failed open in process-wide state (sf_error(NULL),
 * sf_strerror(NULL)), which a concurrent failing open would overwrite while we read it. Opens are
 * short (header parsing only), so they are serialized; decoding runs in parallel.
 */
static pthread_mutex_t g_open_lock = PTHREAD_MUTEX_INITIALIZER;

/* The codecs accepted inside the allowed containers: all of libsndfile's but ALAC and MPEG. */
static int codec_allowed(int major, int sub)
{
    if (major == SF_FORMAT_OGG) return sub == SF_FORMAT_VORBIS || sub == SF_FORMAT_OPUS;
    switch (sub) {
    case SF_FORMAT_PCM_S8: case SF_FORMAT_PCM_16: case SF_FORMAT_PCM_24: case SF_FORMAT_PCM_32:
    case SF_FORMAT_PCM_U8: case SF_FORMAT_FLOAT: case SF_FORMAT_DOUBLE: case SF_FORMAT_ULAW:
    case SF_FORMAT_ALAW: case SF_FORMAT_IMA_ADPCM: case SF_FORMAT_MS_ADPCM: case SF_FORMAT_GSM610:
    case SF_FORMAT_VOX_ADPCM: case SF_FORMAT_NMS_ADPCM_16: case SF_FORMAT_NMS_ADPCM_24:
    case SF_FORMAT_NMS_ADPCM_32: case SF_FORMAT_G721_32: case SF_FORMAT_G723_24: case SF_FORMAT_G723_40:
    case SF_FORMAT_DWVW_12: case SF_FORMAT_DWVW_16: case SF_FORMAT_DWVW_24: case SF_FORMAT_DWVW_N:
    case SF_FORMAT_DPCM_8: case SF_FORMAT_DPCM_16:
        return 1;
    default:
        return 0;
    }
}

/* libsndfile's own name of a codec ("Signed 16 bit PCM"); a static table, safe without a file. */
static const char *codec_name(int sub)
{
    SF_FORMAT_INFO fi = {.format = sub, .name = NULL, .extension = NULL};
    return sf_command(NULL, SFC_GET_FORMAT_INFO, &fi, (int)sizeof fi) == 0 && fi.name ? fi.name : "unknown codec";
}


afx_status afx_sndfile_open(afx_reader *r, afx_source *src, afx_container container, char *err, size_t err_size)
{
    SF_VIRTUAL_IO vio = {vio_get_filelen, vio_seek, vio_read, vio_write, vio_tell};
    char why[256] = "";
    int code = SF_ERR_NO_ERROR;
    memset(&r->sfinfo, 0, sizeof r->sfinfo);
    (void)afx_source_seek(src, 0, SEEK_SET);
    (void)pthread_mutex_lock(&g_open_lock);
    r->sf = sf_open_virtual(&vio, SFM_READ, &r->sfinfo, src);
    if (!r->sf) {
        code = sf_error(NULL);
        snprintf(why, sizeof why, "%s", sf_strerror(NULL));
    }
    (void)pthread_mutex_unlock(&g_open_lock);
    if (!r->sf) {
        const afx_status io = afx_source_check_io(src, err, err_size);
        if (io != AFX_OK) return io;
        afx_audio_err(err, err_size, "%s: cannot decode: %s", src->name, why);
        return code == SF_ERR_SYSTEM ? AFX_ERR_IO : AFX_ERR_DECODE;
    }
    const SF_INFO *in = &r->sfinfo;
    const int major = in->format & SF_FORMAT_TYPEMASK, sub = in->format & SF_FORMAT_SUBMASK;
    const int want = afx_container_sf_major(container);
    const int major_ok = major == want || (want == SF_FORMAT_WAV && major == SF_FORMAT_WAVEX);
    if (!major_ok || !codec_allowed(major, sub)) {
        afx_audio_err(err, err_size, "%s: cannot decode: %s %s (libsndfile format 0x%08X) is not supported",
                      src->name, afx_container_name(container), codec_name(sub), (unsigned)in->format);
        sf_close(r->sf);
        r->sf = NULL;
        return AFX_ERR_DECODE;
    }
    if (in->channels < 1 || in->channels > 65536 || in->samplerate < 1 || in->frames < 0) {
        afx_audio_err(err, err_size, "%s: cannot decode: invalid header (%d channels, %d Hz, %lld frames)",
                      src->name, in->channels, in->samplerate, (long long)in->frames);
        sf_close(r->sf);
        r->sf = NULL;
        return AFX_ERR_DECODE;
    }
    r->rate = in->samplerate;
    r->channels = in->channels;
    r->frames = in->frames == SF_COUNT_MAX ? -1 : in->frames; /* libsndfile's "unknown length" */
    r->pcm16 = sub == SF_FORMAT_PCM_16;
    snprintf(r->format, sizeof r->format, "%s (%s)", afx_container_name(container), codec_name(sub));
    return AFX_OK;
}

/*
 * 16-bit PCM as float32. libsndfile converts 16-bit PCM to float as (float)code * (1.0f / 0x8000)
 * (libsndfile 1.2.0 src/pcm.c, les2f_array/bes2f_array with norm_float on; its FLAC reader scales the
 * code << 16 by 1 / 0x80000000, the same value), but it reads the file 8 KB at a time for that
 * (SF_BUFFER_LEN): a 20-minute stereo WAV took 25,856 reads. sf_readf_short reads the codes in one
 * call straight into the caller's memory, so the codes land in the upper half of buf and are widened
 * in place, front to back: writing float i overwrites codes at indices 2i and 2i + 1 (counted from
 * buf), all before code m + i, the first not yet read, whenever i < m. Blocks of 64 codes are copied
 * out first, so the widening loop vectorizes. The floats are the same bits as sf_readf_float's
 * (tests: AudioFormats.AllowedContainersRoundTrip, AudioFormats.Pcm16FloatEqualsLibsndfile).
 */
static int64_t read_pcm16_as_f32(afx_reader *r, float *buf, int64_t n)
{
    const size_t ch = (size_t)r->channels;
    int16_t *codes = (int16_t *)buf + (size_t)n * ch;
    const sf_count_t got = sf_readf_short(r->sf, codes, n);
    if (got <= 0) return 0;
    const size_t m = (size_t)got * ch;
    const float scale = 1.0f / (float)0x8000;
    for (size_t i0 = 0; i0 < m; i0 += 64) {
        int16_t block[64];
        const size_t len = m - i0 < 64 ? m - i0 : 64;
        memcpy(block, codes + i0, len * sizeof *block);
        for (size_t k = 0; k < len; ++k) buf[i0 + k] = (float)block[k] * scale;
    }
    return got;
}

int64_t afx_sndfile_read_f32(afx_reader *r, float *buf, int64_t n)
{
    if (r->pcm16) return read_pcm16_as_f32(r, buf, n);
    const sf_count_t got = sf_readf_float(r->sf, buf, n);
    return got > 0 ? got : 0;
}

int64_t afx_sndfile_read_s16(afx_reader *r, int16_t *buf, int64_t n)
{
    const sf_count_t got = sf_readf_short(r->sf, buf, n);
    return got > 0 ? got : 0;
}

int afx_sndfile_seek(afx_reader *r, int64_t frame)
{
    return sf_seek(r->sf, frame, SEEK_SET) == frame ? 0 : -1;
}

/*
 * A WAV/AIFF data chunk that claims more bytes than the file holds is cut to what is there by
 * libsndfile, which reports it only in its log ("data : 2000 (should be 1456)", AIFF "SSND : ...").
 * 0xFFFFFFFF is the size streaming writers leave when they cannot seek back: not a truncation.
 */
static int header_promises_more(SNDFILE *sf, long long *declared, long long *actual)
{
    char log[8192];
    if (sf_command(sf, SFC_GET_LOG_INFO, log, (int)sizeof log) <= 0) return 0;
    log[sizeof log - 1] = '\0';
    for (const char *line = log; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        while (*line == ' ' || *line == '\t') ++line;
        if (strncmp(line, "data : ", 7) != 0 && strncmp(line, "SSND : ", 7) != 0) continue;
        if (sscanf(line + 7, "%lld (should be %lld)", declared, actual) == 2 &&
            *declared != 0xFFFFFFFFLL && *declared > *actual)
            return 1;
    }
    return 0;
}

afx_status afx_sndfile_check_end(afx_reader *r, int64_t end, int to_end, char *err, size_t err_size)
{
    long long declared = 0, actual = 0;
    const char *name = r->src->name;
    if (sf_error(r->sf) != SF_ERR_NO_ERROR) {
        afx_audio_err(err, err_size, "%s: truncated or corrupt: decoding stopped at frame %lld: %s", name,
                      (long long)end, sf_strerror(r->sf));
        return AFX_ERR_DECODE;
    }
    if (!to_end) return AFX_OK;
    if (r->frames >= 0 && end < r->frames) {
        afx_audio_err(err, err_size, "%s: truncated: %lld of the %lld frames in its header could be decoded",
                      name, (long long)end, (long long)r->frames);
        return AFX_ERR_DECODE;
    }
    if (header_promises_more(r->sf, &declared, &actual)) {
        afx_audio_err(err, err_size, "%s: truncated: the header declares %lld bytes of audio data, the "
                      "file holds %lld", name, declared, actual);
        return AFX_ERR_DECODE;
    }
    return AFX_OK;
}

void afx_sndfile_close(afx_reader *r)
{
    if (r->sf) sf_close(r->sf); /* read-only: nothing to flush, no error to report */
    r->sf = NULL;
}
