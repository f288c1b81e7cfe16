/* Pull progress rendering. The daemon sends snapshots (every blob's state in each message), so the view keeps
 * the latest one. Terminal mode redraws every line in place at most every REDRAW_USEC: cursor up over the
 * previous drawing (ESC[nA), then each line cleared (ESC[2K) and rewritten, truncated to the terminal's width so
 * no line wraps and the line count stays right. Plain mode prints a line when a blob changes status, and while
 * downloading at most once per PLAIN_INTERVAL_USEC per blob. */
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "basic/macro.h"
#include "cli/format.h"
#include "cli/progress.h"

#define REDRAW_USEC (100ULL * 1000)
#define PLAIN_INTERVAL_USEC (1000ULL * 1000)
#define BAR_WIDTH 24

typedef struct blob_state {
        char *digest;
        char *media_type;
        char *status;
        int64_t total, offset, rate;
        /* for a rate the daemon did not give: the first offset seen downloading, and when */
        int64_t rate_base;
        uint64_t rate_since;
        /* plain mode */
        char *printed_status;
        uint64_t printed_at;
} blob_state;

struct progress_view {
        FILE *out;
        bool tty;
        char *ref;
        char *phase;
        blob_state *blobs;
        size_t n_blobs;
        size_t lines_drawn;
        uint64_t drawn_at, started_at;
        bool dirty;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

progress_view *progress_new(FILE *out, bool tty, const char *ref) {
        progress_view *v = xcalloc(1, sizeof *v);
        v->out = out;
        v->tty = tty;
        v->ref = xstrdup(ref);
        v->phase = xstrdup("");
        v->started_at = now_usec();
        return v;
}

static void blob_done(blob_state *b) {
        free(b->digest);
        free(b->media_type);
        free(b->status);
        free(b->printed_status);
}

progress_view *progress_free(progress_view *v) {
        if (!v)
                return NULL;
        for (size_t i = 0; i < v->n_blobs; i++)
                blob_done(&v->blobs[i]);
        free(v->blobs);
        free(v->ref);
        free(v->phase);
        free(v);
        return NULL;
}

static blob_state *blob_get(progress_view *v, const char *digest) {
        for (size_t i = 0; i < v->n_blobs; i++)
                if (strcmp(v->blobs[i].digest, digest) == 0)
                        return &v->blobs[i];
        v->blobs = xrealloc(v->blobs, (v->n_blobs + 1) * sizeof *v->blobs);
        blob_state *b = &v->blobs[v->n_blobs++];
        *b = (blob_state) { .digest = xstrdup(digest), .media_type = xstrdup(""), .status = xstrdup("") };
        return b;
}

static void set_str(char **p, const char *s) {
        if (strcmp(*p, s ? s : "") == 0)
                return;
        free(*p);
        *p = xstrdup(s ? s : "");
}

static const char *blob_kind(const char *media_type) {
        if (strstr(media_type, "index") || strstr(media_type, "manifest.list"))
                return "index";
        if (strstr(media_type, "manifest"))
                return "manifest";
        if (strstr(media_type, "config"))
                return "config";
        return "layer";
}

/* The daemon's rate, else the average since this view first saw the blob downloading; 0 = unknown yet. */
static int64_t blob_rate(const blob_state *b) {
        if (b->rate > 0)
                return b->rate;
        uint64_t dt = b->rate_since ? now_usec() - b->rate_since : 0;
        if (dt < 200 * 1000 || b->offset <= b->rate_base)
                return 0;
        return (int64_t) ((double) (b->offset - b->rate_base) * 1e6 / (double) dt);
}

/* " 45.6 MiB/s" or "" while unknown */
static const char *format_rate(const blob_state *b, char buf[static 24]) {
        char size[16];
        int64_t r = blob_rate(b);
        if (r <= 0)
                buf[0] = '\0';
        else
                snprintf(buf, 24, " %s/s", format_size(r, size));
        return buf;
}

/* "12.3 MiB / 25.0 MiB" (or just the offset while the total is unknown) */
static void format_bytes(const blob_state *b, char *buf, size_t n) {
        char done[16], total[16];
        if (b->total > 0)
                snprintf(buf, n, "%s / %s", format_size(b->offset, done), format_size(b->total, total));
        else
                snprintf(buf, n, "%s", format_size(b->offset, done));
}

static bool finished(const char *status) {
        return strcmp(status, "done") == 0 || strcmp(status, "exists") == 0;
}

/* ---- terminal mode ---- */

static size_t terminal_width(FILE *f) {
        struct winsize ws;
        if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        return 0;
}

static void put_line(progress_view *v, const char *line, size_t width) {
        /* ESC[2K clears the old text; one column is kept free so the cursor never wraps. */
        if (width > 1 && strlen(line) >= width)
                fprintf(v->out, "\033[2K%.*s\n", (int) (width - 1), line);
        else
                fprintf(v->out, "\033[2K%s\n", line);
        v->lines_drawn++;
}

static void draw(progress_view *v) {
        size_t width = terminal_width(v->out);
        if (v->lines_drawn > 0)
                fprintf(v->out, "\033[%zuA", v->lines_drawn);
        v->lines_drawn = 0;
        for (size_t i = 0; i < v->n_blobs; i++) {
                const blob_state *b = &v->blobs[i];
                _cleanup_free_ char *id = format_short_digest(b->digest);
                char bytes[48], rate[24], size[16], bar[BAR_WIDTH + 3], line[256];
                format_bytes(b, bytes, sizeof bytes);
                if (strcmp(b->status, "downloading") == 0 && b->total > 0) {
                        size_t fill = (size_t) (BAR_WIDTH * (double) b->offset / (double) b->total);
                        if (fill > BAR_WIDTH)
                                fill = BAR_WIDTH;
                        bar[0] = '[';
                        for (size_t k = 0; k < BAR_WIDTH; k++)
                                bar[1 + k] = k < fill ? '=' : k == fill ? '>' : ' ';
                        bar[BAR_WIDTH + 1] = ']';
                        bar[BAR_WIDTH + 2] = '\0';
                        snprintf(line, sizeof line, "%s %-8s %-11s %s %s%s", id, blob_kind(b->media_type),
                                 b->status, bar, bytes, format_rate(b, rate));
                } else if (finished(b->status))
                        snprintf(line, sizeof line, "%s %-8s %-11s %s", id, blob_kind(b->media_type), b->status,
                                 format_size(b->total > 0 ? b->total : b->offset, size));
                else
                        snprintf(line, sizeof line, "%s %-8s %s", id, blob_kind(b->media_type), b->status);
                put_line(v, line, width);
        }
        char line[256];
        double elapsed = (double) (now_usec() - v->started_at) / 1e6;
        snprintf(line, sizeof line, "%s: %s %.1fs", v->ref, *v->phase ? v->phase : "resolving", elapsed);
        put_line(v, line, width);
        fflush(v->out);
        v->drawn_at = now_usec();
        v->dirty = false;
}

/* ---- plain mode ---- */

static void plain_blob(progress_view *v, blob_state *b) {
        uint64_t now = now_usec();
        bool changed = !b->printed_status || strcmp(b->printed_status, b->status) != 0;
        bool downloading = strcmp(b->status, "downloading") == 0;
        if (!changed && !(downloading && now - b->printed_at >= PLAIN_INTERVAL_USEC))
                return;
        if (!*b->status)
                return;
        _cleanup_free_ char *id = format_short_digest(b->digest);
        char bytes[48], rate[24], size[16];
        if (downloading) {
                format_bytes(b, bytes, sizeof bytes);
                fprintf(v->out, "%s %s %s%s\n", id, b->status, bytes, format_rate(b, rate));
        } else if (finished(b->status))
                fprintf(v->out, "%s %s %s\n", id, b->status,
                        format_size(b->total > 0 ? b->total : b->offset, size));
        else
                fprintf(v->out, "%s %s\n", id, b->status);
        free(b->printed_status);
        b->printed_status = xstrdup(b->status);
        b->printed_at = now;
}

void progress_update(const berth_pull_progress *p, void *userdata) {
        progress_view *v = userdata;
        bool phase_changed = p->phase && strcmp(p->phase, v->phase) != 0;
        size_t before = v->n_blobs;
        if (phase_changed) {
                set_str(&v->phase, p->phase);
                if (!v->tty && strcmp(p->phase, "done") != 0)
                        fprintf(v->out, "%s: %s\n", v->ref, p->phase);
        }
        for (size_t i = 0; i < p->n_layers; i++) {
                const berth_layer_progress *l = &p->layers[i];
                if (!l->digest || !*l->digest)
                        continue;
                blob_state *b = blob_get(v, l->digest);
                set_str(&b->media_type, l->media_type);
                set_str(&b->status, l->status);
                b->total = l->total;
                b->offset = l->offset;
                b->rate = l->rate;
                if (!b->rate_since && strcmp(b->status, "downloading") == 0) {
                        b->rate_since = now_usec();
                        b->rate_base = b->offset;
                }
                if (!v->tty)
                        plain_blob(v, b);
        }
        if (!v->tty) {
                fflush(v->out);
                return;
        }
        v->dirty = true;
        if (phase_changed || before != v->n_blobs || p->done || now_usec() - v->drawn_at >= REDRAW_USEC)
                draw(v);
}

void progress_finish(progress_view *v) {
        if (v->tty && v->dirty)
                draw(v);
        fflush(v->out);
}
