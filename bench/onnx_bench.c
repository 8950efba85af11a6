/*
 * onnx_bench: times inferd's ONNX engine on one model, the C side of
 * bench/onnx.sh (bench/onnx/ort_bench.js is the ONNX Runtime side and
 * builds the same inputs the same way).
 *
 *   onnx_bench MODEL BATCH [SEQ] [SECONDS]
 *
 * Dynamic dimensions: the first is BATCH, the others SEQ (default 128).
 * float inputs hold 0.5*sin(0.37*i); int64 inputs hold (7*i) % 100, or 1
 * when the input's name contains "mask". After a warm-up, runs are timed in
 * rounds of at least 50 ms for SECONDS (default 2); prints the median
 * round's microseconds per inference and a checksum of the first output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "onnx/onnx.h"

#define MAX_IO 8
#define MAX_ROUNDS 4096

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int parse(const char *s, long max, long *out)
{
    if (inf_parse_long(s, 1, max, out) != 0) {
        fprintf(stderr, "onnx_bench: bad number '%s'\n", s);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long batch, seq = 128, seconds = 2;
    if (argc < 3 || parse(argv[2], 1 << 20, &batch) ||
        (argc > 3 && parse(argv[3], 1 << 20, &seq)) ||
        (argc > 4 && parse(argv[4], 3600, &seconds))) {
        fprintf(stderr, "usage: onnx_bench MODEL BATCH [SEQ] [SECONDS]\n");
        return 2;
    }
    struct inf_err err = {0};
    struct onnx_model *m;
    uint64_t t0 = inf_now_us();
    if (onnx_model_load(argv[1], &m, &err) != 0) {
        fprintf(stderr, "onnx_bench: %s\n", err.msg);
        return 1;
    }
    uint64_t load_us = inf_now_us() - t0;
    size_t n_in = onnx_model_input_count(m), n_out = onnx_model_output_count(m);
    if (n_in > MAX_IO || n_out > MAX_IO) {
        fprintf(stderr, "onnx_bench: too many inputs or outputs\n");
        return 1;
    }
    struct onnx_tensor in[MAX_IO] = {0}, out[MAX_IO];
    for (size_t i = 0; i < n_in; i++) {
        const struct onnx_io_desc *d = onnx_model_input(m, i);
        in[i].dtype = d->dtype;
        in[i].rank = d->rank;
        int64_t n = 1;
        for (int k = 0; k < d->rank; k++) {
            in[i].dims[k] = d->dims[k] >= 0 ? d->dims[k] : (k == 0 ? batch : seq);
            n *= in[i].dims[k];
        }
        in[i].data = inf_malloc((size_t)n * onnx_dtype_size(d->dtype) + 1);
        for (int64_t j = 0; j < n; j++) {
            if (d->dtype == ONNX_DTYPE_FLOAT)
                ((float *)in[i].data)[j] = 0.5f * sinf(0.37f * (float)j);
            else if (d->dtype == ONNX_DTYPE_INT64)
                ((int64_t *)in[i].data)[j] = strstr(d->name, "mask") ? 1 : (7 * j) % 100;
        }
    }
    struct onnx_session *s;
    if (onnx_session_new(m, &s, &err) != 0 || onnx_session_run(s, in, n_in, out, n_out, &err)) {
        fprintf(stderr, "onnx_bench: %s\n", err.msg);
        return 1;
    }
    /* warm-up: caches, page faults, the plan */
    uint64_t end = inf_now_us() + 200000;
    while (inf_now_us() < end)
        onnx_session_run(s, in, n_in, out, n_out, &err);
    static double rounds[MAX_ROUNDS];
    int n_rounds = 0;
    uint64_t stop = inf_now_us() + (uint64_t)seconds * 1000000;
    while (n_rounds < MAX_ROUNDS && (inf_now_us() < stop || n_rounds < 3)) {
        uint64_t start = inf_now_us(), now;
        long iters = 0;
        do {
            if (onnx_session_run(s, in, n_in, out, n_out, &err) != 0) {
                fprintf(stderr, "onnx_bench: %s\n", err.msg);
                return 1;
            }
            iters++;
            now = inf_now_us();
        } while (now - start < 50000);
        rounds[n_rounds++] = (double)(now - start) / (double)iters;
    }
    qsort(rounds, (size_t)n_rounds, sizeof(double), cmp_double);
    double sum = 0;
    int64_t n = onnx_tensor_numel(&out[0]);
    for (int64_t j = 0; j < n; j++)
        sum += ((const float *)out[0].data)[j];
    printf("us_per_inference=%.2f checksum=%.6g load_ms=%.1f\n", rounds[n_rounds / 2], sum,
           (double)load_us / 1000.0);
    onnx_session_free(s);
    for (size_t i = 0; i < n_in; i++)
        free(in[i].data);
    onnx_model_free(m);
    return 0;
}
