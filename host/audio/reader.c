/* reader.c: one interface over the libsndfile and libmpg123 readers (audio_internal.h). */
#include "audio_internal.h"

#include <string.h>

afx_status afx_reader_open(afx_reader *r, afx_source *src, afx_container container, mpg123_handle **mh_cache,
                           char *err, size_t err_size)
{
    memset(r, 0, sizeof *r);
    r->src = src;
    r->frames = -1;
    return container == AFX_CONTAINER_MPEG ? afx_mpeg_open(r, src, mh_cache, err, err_size)
                                           : afx_sndfile_open(r, src, container, err, err_size);
}

int64_t afx_reader_read_f32(afx_reader *r, float *buf, int64_t n)
{
    return r->mh ? afx_mpeg_read_f32(r, buf, n) : afx_sndfile_read_f32(r, buf, n);
}

int64_t afx_reader_read_s16(afx_reader *r, int16_t *buf, int64_t n)
{
    return r->sf && r->pcm16 ? afx_sndfile_read_s16(r, buf, n) : 0;
}

int afx_reader_seek(afx_reader *r, int64_t frame)
{
    return r->mh ? afx_mpeg_seek(r, frame) : afx_sndfile_seek(r, frame);
}

afx_status afx_reader_check_end(afx_reader *r, int64_t end, int to_end, char *err, size_t err_size)
{
    const afx_status io = afx_source_check_io(r->src, err, err_size);
    if (io != AFX_OK) return io;
    return r->mh ? afx_mpeg_check_end(r, end, to_end, err, err_size)
                 : afx_sndfile_check_end(r, end, to_end, err, err_size);
}

void afx_reader_close(afx_reader *r)
{
    if (r->mh) afx_mpeg_close(r);
    if (r->sf) afx_sndfile_close(r);
}
