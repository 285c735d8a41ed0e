/*
 * A small, fast WebSocket echo server for the geventws benchmark.
 *
 * One thread, one epoll loop, level-triggered, non-blocking sockets. It listens on
 * two ports: a WebSocket port (RFC 6455 upgrade, unmask, echo each message back as
 * one unmasked frame, answer pings and close frames, permessage-deflate when
 * offered) and a raw-TCP port that echoes bytes unchanged (the benchmark's "floor":
 * the same bytes and round trips with no framing at all).
 *
 * It is written to be fast enough never to be the bottleneck, not to be a complete
 * server: no TLS, no subprotocols, no UTF-8 validation. permessage-deflate runs
 * without context takeover in both directions, so every message is compressed on
 * its own whatever the client asks, which keeps the compression workload the same
 * for every client.
 *
 * SHA-1 and base64 are small implementations of their own (FIPS 180-4, RFC 4648),
 * enough for Sec-WebSocket-Accept. Build: gcc -O2 -o echo echo.c -lz
 * Usage:    echo [WS_PORT [RAW_PORT]]   (0 picks a free port; prints "READY <ws> <raw>")
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#define MAX_MESSAGE (64u << 20)      /* larger messages close the connection */
#define OUT_HIGH (16u << 20)         /* stop reading while this much waits to be written */
#define OUT_LOW (4u << 20)
#define READ_CHUNK (256u << 10)

/* ---------------------------------------------------------------- SHA-1 ---- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const unsigned char *p) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
        else { f = b ^ c ^ d; k = 0xCA62C1D6; }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    unsigned char block[64];
    size_t i = 0;
    for (; i + 64 <= len; i += 64) sha1_block(h, msg + i);
    size_t rest = len - i;
    memset(block, 0, 64);
    memcpy(block, msg + i, rest);
    block[rest] = 0x80;
    if (rest >= 56) { sha1_block(h, block); memset(block, 0, 64); }
    uint64_t bits = (uint64_t)len * 8;
    for (int j = 0; j < 8; j++) block[63 - j] = (unsigned char)(bits >> (8 * j));
    sha1_block(h, block);
    for (int j = 0; j < 5; j++) {
        out[4 * j] = h[j] >> 24; out[4 * j + 1] = h[j] >> 16;
        out[4 * j + 2] = h[j] >> 8; out[4 * j + 3] = h[j];
    }
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tbl[v & 63] : '=';
    }
    out[o] = 0;
}

/* -------------------------------------------------------------- buffers ---- */

typedef struct { unsigned char *p; size_t off, len, cap; } buf_t;  /* data is p[off, len) */

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + extra <= b->cap) return;
    if (b->off) {  /* compact first */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off; b->off = 0;
        if (b->len + extra <= b->cap) return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) { perror("realloc"); exit(1); }
    b->cap = cap;
}

static void buf_put(buf_t *b, const void *d, size_t n) {
    buf_reserve(b, n);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void buf_free(buf_t *b) { free(b->p); memset(b, 0, sizeof *b); }

/* ---------------------------------------------------------- connections ---- */

enum { C_HANDSHAKE, C_WS, C_RAW };

typedef struct {
    int fd, mode, closing, reading, writing;
    int deflate, window_bits;           /* permessage-deflate negotiated, our window */
    int msg_opcode, msg_compressed;     /* the fragmented message being received */
    buf_t in, out, msg;
} conn_t;

static int ep;
static conn_t **conns;
static int nconns_cap = 1 << 17;
static z_stream inflater;
static z_stream deflaters[16];
static int deflater_ready[16];
static buf_t zbuf;

static void set_events(conn_t *c) {
    struct epoll_event ev = {0};
    ev.events = (c->reading ? EPOLLIN : 0) | (c->writing ? EPOLLOUT : 0);
    ev.data.fd = c->fd;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(conn_t *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    buf_free(&c->in); buf_free(&c->out); buf_free(&c->msg);
    free(c);
}

/* Write what we can; returns -1 if the connection was closed. */
static int flush_out(conn_t *c) {
    buf_t *o = &c->out;
    while (o->off < o->len) {
        ssize_t n = write(c->fd, o->p + o->off, o->len - o->off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            conn_close(c);
            return -1;
        }
        o->off += (size_t)n;
    }
    size_t pending = o->len - o->off;
    if (!pending) {
        o->off = o->len = 0;
        if (c->closing) { conn_close(c); return -1; }
    }
    int want_write = pending > 0;
    int want_read = !c->closing && pending < (c->reading ? OUT_HIGH : OUT_LOW);
    if (want_write != c->writing || want_read != c->reading) {
        c->writing = want_write; c->reading = want_read;
        set_events(c);
    }
    return 0;
}

static void put_header(buf_t *o, int first, size_t len) {
    unsigned char h[10];
    size_t n;
    h[0] = (unsigned char)first;
    if (len < 126) { h[1] = (unsigned char)len; n = 2; }
    else if (len < 65536) { h[1] = 126; h[2] = len >> 8; h[3] = len & 255; n = 4; }
    else { h[1] = 127; for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)(len >> (56 - 8 * i)); n = 10; }
    buf_put(o, h, n);
}

static void unmask_into(unsigned char *dst, const unsigned char *src, size_t n, const unsigned char key[4]) {
    uint32_t k32;
    memcpy(&k32, key, 4);
    uint64_t k64 = (uint64_t)k32 << 32 | k32;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k64;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++) dst[i] = src[i] ^ key[i & 3];
}

/* Send one whole message back, compressing it when the connection negotiated deflate. */
static int echo_message(conn_t *c, int opcode, int compressed, const unsigned char *data, size_t len) {
    if (compressed) {
        /* inflate data + 00 00 ff ff (RFC 7692 §7.2.2) */
        static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
        inflateReset(&inflater);
        zbuf.off = zbuf.len = 0;
        for (int part = 0; part < 2; part++) {
            inflater.next_in = (unsigned char *)(part ? tail : data);
            inflater.avail_in = (uInt)(part ? 4 : len);
            while (inflater.avail_in) {
                buf_reserve(&zbuf, 65536);
                inflater.next_out = zbuf.p + zbuf.len;
                inflater.avail_out = (uInt)(zbuf.cap - zbuf.len);
                int rc = inflate(&inflater, Z_SYNC_FLUSH);
                zbuf.len = zbuf.cap - inflater.avail_out;
                if (rc != Z_OK && rc != Z_BUF_ERROR) return -1;
                if (zbuf.len > MAX_MESSAGE) return -1;
                if (rc == Z_BUF_ERROR && inflater.avail_out) break;
            }
        }
        /* deflate the plain text without context takeover */
        int wb = c->window_bits;
        z_stream *d = &deflaters[wb];
        if (!deflater_ready[wb]) {
            if (deflateInit2(d, 1, Z_DEFLATED, -wb, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
            deflater_ready[wb] = 1;
        } else {
            deflateReset(d);
        }
        size_t bound = deflateBound(d, zbuf.len) + 16;
        buf_t *o = &c->out;
        buf_reserve(o, bound + 10);
        size_t header_at = o->len;  /* reserve 10 bytes, fix up after */
        o->len += 10;
        d->next_in = zbuf.p;
        d->avail_in = (uInt)zbuf.len;
        d->next_out = o->p + o->len;
        d->avail_out = (uInt)bound;
        if (deflate(d, Z_SYNC_FLUSH) != Z_OK) return -1;
        size_t clen = bound - d->avail_out;
        if (clen >= 4 && memcmp(o->p + o->len + clen - 4, "\x00\x00\xff\xff", 4) == 0) clen -= 4;
        unsigned char h[10];
        size_t hn;
        h[0] = (unsigned char)(0x80 | 0x40 | opcode);
        if (clen < 126) { h[1] = (unsigned char)clen; hn = 2; }
        else if (clen < 65536) { h[1] = 126; h[2] = clen >> 8; h[3] = clen & 255; hn = 4; }
        else { h[1] = 127; for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)(clen >> (56 - 8 * i)); hn = 10; }
        /* slide the payload left so the header sits right before it */
        memmove(o->p + header_at + hn, o->p + header_at + 10, clen);
        memcpy(o->p + header_at, h, hn);
        o->len = header_at + hn + clen;
        return 0;
    }
    put_header(&c->out, 0x80 | opcode, len);
    buf_put(&c->out, data, len);
    return 0;
}

/* Parse every complete frame in c->in; returns -1 to close the connection. */
static int ws_input(conn_t *c) {
    buf_t *in = &c->in;
    for (;;) {
        unsigned char *p = in->p + in->off;
        size_t avail = in->len - in->off;
        if (avail < 2) return 0;
        int fin = p[0] & 0x80, rsv1 = p[0] & 0x40, opcode = p[0] & 0x0f;
        if (!(p[1] & 0x80)) return -1;  /* clients must mask */
        uint64_t len = p[1] & 0x7f;
        size_t hlen = 2;
        if (len == 126) {
            if (avail < 4) return 0;
            len = (uint64_t)p[2] << 8 | p[3];
            hlen = 4;
        } else if (len == 127) {
            if (avail < 10) return 0;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
            hlen = 10;
        }
        if (len > MAX_MESSAGE) return -1;
        if (avail < hlen + 4 + len) return 0;
        const unsigned char *key = p + hlen;
        unsigned char *payload = p + hlen + 4;
        in->off += hlen + 4 + len;

        if (opcode >= 8) {
            unsigned char ctl[125];
            if (len > 125) return -1;
            unmask_into(ctl, payload, len, key);
            if (opcode == 0x9) {
                put_header(&c->out, 0x8A, len);
                buf_put(&c->out, ctl, len);
            } else if (opcode == 0x8) {
                size_t n = len >= 2 ? 2 : 0;  /* echo the code, drop the reason */
                put_header(&c->out, 0x88, n);
                buf_put(&c->out, ctl, n);
                c->closing = 1;
                return 0;
            }
            continue;
        }
        if (opcode != 0 && c->msg_opcode == -1 && fin && !rsv1) {
            /* fast path: a whole uncompressed message, unmasked straight into the output */
            put_header(&c->out, 0x80 | opcode, len);
            buf_reserve(&c->out, len);
            unmask_into(c->out.p + c->out.len, payload, len, key);
            c->out.len += len;
            continue;
        }
        if (opcode != 0) {
            if (c->msg_opcode != -1) return -1;
            c->msg_opcode = opcode;
            c->msg_compressed = rsv1 && c->deflate;
            c->msg.off = c->msg.len = 0;
        } else if (c->msg_opcode == -1) {
            return -1;
        }
        if (c->msg.len + len > MAX_MESSAGE) return -1;
        buf_reserve(&c->msg, len);
        unmask_into(c->msg.p + c->msg.len, payload, len, key);
        c->msg.len += len;
        if (fin) {
            int op = c->msg_opcode;
            c->msg_opcode = -1;
            if (echo_message(c, op, c->msg_compressed, c->msg.p, c->msg.len) < 0) return -1;
            c->msg.off = c->msg.len = 0;
            if (c->msg.cap > (1u << 22)) buf_free(&c->msg);
        }
    }
}

static int handshake_input(conn_t *c) {
    buf_t *in = &c->in;
    buf_reserve(in, 1);
    in->p[in->len] = 0;
    char *req = (char *)in->p + in->off;
    char *end = strstr(req, "\r\n\r\n");
    if (!end) return in->len - in->off > 16384 ? -1 : 0;
    *end = 0;
    char key[128] = "", ext[512] = "";
    char *line = strstr(req, "\r\n");
    while (line) {
        line += 2;
        char *next = strstr(line, "\r\n");
        if (next) *next = 0;
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = 0;
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t vl = strlen(v);
            while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) v[--vl] = 0;
            if (!strcasecmp(line, "sec-websocket-key") && vl < sizeof key) strcpy(key, v);
            else if (!strcasecmp(line, "sec-websocket-extensions") && strlen(ext) + vl + 2 < sizeof ext) {
                if (*ext) strcat(ext, ",");
                strcat(ext, v);
            }
        }
        line = next;
    }
    in->off = (size_t)(end + 4 - (char *)in->p);
    if (!*key) {
        const char *bad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        buf_put(&c->out, bad, strlen(bad));
        c->closing = 1;
        return 0;
    }
    char cat[256];
    unsigned char digest[20];
    char accept[40];
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    sha1((unsigned char *)cat, strlen(cat), digest);
    base64(digest, 20, accept);
    char resp[768];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n", accept);
    /* Accept the first permessage-deflate offer, without context takeover. */
    for (char *offer = ext; offer && *offer; ) {
        char *comma = strchr(offer, ',');
        if (comma) *comma = 0;
        while (*offer == ' ') offer++;
        if (!strncasecmp(offer, "permessage-deflate", 18) && (offer[18] == 0 || offer[18] == ';' || offer[18] == ' ')) {
            int wb = 15;
            char *smwb = strcasestr(offer, "server_max_window_bits");
            if (smwb) {
                char *eq = strchr(smwb, '=');
                if (eq) { wb = atoi(eq + 1 + (eq[1] == '"')); }
                if (wb < 9) wb = 9;  /* zlib's raw deflate has no 8-bit window */
                if (wb > 15) wb = 15;
            }
            c->deflate = 1;
            c->window_bits = wb;
            char smwb_param[40] = "";
            if (smwb) snprintf(smwb_param, sizeof smwb_param, "; server_max_window_bits=%d", wb);
            n += snprintf(resp + n, sizeof resp - n,
                          "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                          "client_no_context_takeover%s\r\n", smwb_param);
            break;
        }
        offer = comma ? comma + 1 : NULL;
    }
    n += snprintf(resp + n, sizeof resp - n, "\r\n");
    buf_put(&c->out, resp, (size_t)n);
    c->mode = C_WS;
    return ws_input(c);
}

static void on_readable(conn_t *c) {
    buf_t *in = &c->in;
    buf_reserve(in, READ_CHUNK);
    ssize_t n = read(c->fd, in->p + in->len, in->cap - in->len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) { conn_close(c); return; }
    if (n < 0) return;
    in->len += (size_t)n;
    int rc = 0;
    if (c->mode == C_RAW) {
        buf_put(&c->out, in->p + in->off, in->len - in->off);
        in->off = in->len = 0;
    } else if (c->mode == C_HANDSHAKE) {
        rc = handshake_input(c);
    } else {
        rc = ws_input(c);
    }
    if (rc < 0) { conn_close(c); return; }
    if (in->off == in->len) in->off = in->len = 0;
    else if (in->cap > (1u << 22) && in->len - in->off < (1u << 16)) {
        memmove(in->p, in->p + in->off, in->len - in->off);
        in->len -= in->off; in->off = 0;
    }
    flush_out(c);
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) { perror("bind/listen"); exit(1); }
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return fd;
}

static int port_of(int fd) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    return ntohs(a.sin_port);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    ep = epoll_create1(0);
    conns = calloc((size_t)nconns_cap, sizeof *conns);
    if (inflateInit2(&inflater, -15) != Z_OK) return 1;
    int ws_fd = listen_on(argc > 1 ? atoi(argv[1]) : 0);
    int raw_fd = listen_on(argc > 2 ? atoi(argv[2]) : 0);
    printf("READY %d %d\n", port_of(ws_fd), port_of(raw_fd));
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ws_fd || fd == raw_fd) {
                for (;;) {
                    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
                    if (cfd < 0) break;
                    if (cfd >= nconns_cap) { close(cfd); continue; }
                    int one = 1;
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn_t *c = calloc(1, sizeof *c);
                    c->fd = cfd;
                    c->mode = fd == raw_fd ? C_RAW : C_HANDSHAKE;
                    c->msg_opcode = -1;
                    c->reading = 1;
                    conns[cfd] = c;
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
                }
                continue;
            }
            conn_t *c = conns[fd];
            if (!c) continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (c->reading || (evs[i].events & (EPOLLHUP | EPOLLERR))) on_readable(c);
                else if (evs[i].events & EPOLLOUT) flush_out(c);
            } else if (evs[i].events & EPOLLOUT) {
                flush_out(c);
            }
        }
    }
}
