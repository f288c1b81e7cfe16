/* Container logs: docker json-file compatible files under <root>/containers/<ns>/<id>/ (format and rotation
 * in src/logs/log-format.md). Written by berth-logger, the binary:// logger the shim runs for each task (so logs
 * keep flowing while berthd is down), or by berthd itself from FIFOs with the same writer; read by `berth logs`
 * through the reader (tail, follow across rotations). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"

typedef enum log_stream {
        LOG_STREAM_STDOUT = 0,
        LOG_STREAM_STDERR = 1,
        _LOG_STREAM_MAX,
} log_stream;

const char *log_stream_name(log_stream s);

/* A line longer than this is written as several records, all but the last without a trailing "\n" (docker's
 * json-file does the same at 16 KiB). */
#define LOG_RECORD_MAX (16 * 1024)
#define LOG_FILE_SUFFIX "-json.log"

/* ---- options (--log-opt) ---- */

typedef struct log_opts {
        int64_t max_size;   /* bytes per file before rotating; 0 = never rotate */
        unsigned max_files; /* files kept, the current one included (>= 1) */
} log_opts;

void log_opts_init(log_opts *o); /* no rotation, 1 file */
/* "max-size=10m,max-files=3" (docker's "max-file" is accepted too). Can be called once per --log-opt; later
 * values win. Unknown keys, bad sizes and counts are InvalidArgument. Does not check combinations. */
int log_opts_parse(log_opts *o, const char *s, berr **err);
/* Combinations: max-files > 1 needs max-size (docker's rule); max-size at least 4 KiB (smaller would rotate on
 * nearly every line). */
int log_opts_validate(const log_opts *o, berr **err);

/* <root>/containers/<ns>/<id> and <dir>/<id>-json.log[.N] (index 0 is the current file). */
char *log_dir_path(const char *root, const char *ns, const char *id);
char *log_file_name(const char *id, unsigned index);

/* "binary://<logger>?dir=<dir>&max-size=<n>&max-files=<n>" (percent-escaped): the stdout URI to give the shim.
 * The shim runs `<logger> dir <dir> max-size <n> max-files <n>` with CONTAINER_ID/CONTAINER_NAMESPACE set. */
char *log_binary_uri(const char *logger_path, const char *dir, const log_opts *o);
/* Parses the logger's "k v" argument pairs (in any order): dir DIR | root ROOT (then DIR is
 * ROOT/containers/<ns>/<id>), max-size N, max-files N (or max-file). */
int log_logger_args_parse(int argc, char *const *argv, const char *ns, const char *id, char **ret_dir,
                          log_opts *ret_opts, berr **err);

/* ---- writer ---- */

typedef struct log_writer log_writer;

/* Opens (creating dir and file as needed) <dir>/<id>-json.log for appending; rotated files beyond max_files
 * (left by an earlier, larger setting) are removed. */
int log_writer_open(const char *dir, const char *id, const log_opts *o, log_writer **ret, berr **err);
/* Raw bytes from a stream. Complete lines are written now, one record each, with time_ns (ns since the
 * epoch); an unterminated tail is held until its newline arrives or it reaches LOG_RECORD_MAX. A record is
 * never split across files: rotation happens between records. */
int log_writer_feed(log_writer *w, log_stream s, const void *data, size_t len, int64_t time_ns, berr **err);
/* The stream ended: writes what is held as a partial record. */
int log_writer_flush_stream(log_writer *w, log_stream s, int64_t time_ns, berr **err);
/* fdatasync of the current file. The writer syncs by itself before a file is rotated away. */
int log_writer_sync(log_writer *w, berr **err);
/* Flushes held tails (with time_ns), syncs and frees. Returns -1 (err set) if that failed; w is freed anyway. */
int log_writer_close(log_writer *w, int64_t time_ns, berr **err);
/* Bytes in the current file. */
int64_t log_writer_size(const log_writer *w);

/* One record encoded as a JSON line (with its "\n"), appended to *buf (capacity *cap, length *len). */
void log_record_encode(char **buf, size_t *len, size_t *cap, log_stream s, const char *text, size_t text_len,
                       int64_t time_ns);
/* RFC 3339 with nanoseconds in UTC, e.g. "2024-05-01T12:00:00.000000001Z" (buf: at least 40 bytes). */
void log_time_format(int64_t time_ns, char *buf, size_t size);
/* Accepts any RFC 3339 time (fraction optional, Z or +hh:mm). */
int log_time_parse(const char *s, int64_t *ret_ns);
int64_t log_now_ns(void);

/* ---- reader ---- */

typedef struct log_entry {
        log_stream stream;
        int64_t time_ns;
        const char *text; /* owned by the reader, valid until the next call; NUL-terminated, may hold NULs */
        size_t len;
        bool partial; /* no trailing "\n": the line continues in this stream's next record */
} log_entry;

typedef struct log_reader log_reader;

/* Reads <dir>/<id>-json.log.N ... .1 then <id>-json.log, oldest first. tail < 0: everything; tail >= 0: only
 * the last tail records. A missing dir is NotFound; a dir without files reads as empty. */
int log_reader_open(const char *dir, const char *id, int64_t tail, log_reader **ret, berr **err);
/* 1: *ret is the next record; 0: nothing more now (end of the logs, or until the fd of a following reader is
 * readable); -1: error. Lines that are not valid records are skipped. */
int log_reader_next(log_reader *r, log_entry *ret, berr **err);
/* Turns on following: new records and rotations (a file renamed away, a new one created) are picked up.
 * log_reader_fd() then returns an inotify fd to poll; when it is readable, call next() until it returns 0. */
int log_reader_follow(log_reader *r, berr **err);
int log_reader_fd(const log_reader *r);
log_reader *log_reader_free(log_reader *r);
