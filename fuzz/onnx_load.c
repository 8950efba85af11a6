/*
 * libFuzzer target for the ONNX loader: any bytes are either a model or an
 * error, never a crash, a leak or undefined behaviour. A model that loads
 * and has small static inputs is also planned and run once on zeros, so the
 * shape functions and kernels see the same hostile graphs.
 *
 *   make build/fuzz/onnx_load
 *   build/fuzz/onnx_load -max_len=65536 fuzz/corpus/onnx_load
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "onnx/onnx.h"

/* Inputs larger than this are not run (the fuzzer wants speed), and plans
 * get at most this much working memory. */
#define FUZZ_MAX_INPUT_ELEMS 4096
#define FUZZ_MAX_ARENA_BYTES ((size_t)64 << 20)

static void run_once(const struct onnx_model *m)
{
    size_t n_in = onnx_model_input_count(m), n_out = onnx_model_output_count(m);
    struct onnx_tensor *in = calloc(n_in + 1, sizeof(*in));
    struct onnx_tensor *out = calloc(n_out + 1, sizeof(*out));
    struct onnx_session *s = NULL;
    struct inf_err err;
    bool ok = true;
    for (size_t i = 0; i < n_in && ok; i++) {
        const struct onnx_io_desc *d = onnx_model_input(m, i);
        in[i].dtype = d->dtype;
        in[i].rank = d->rank < 0 ? 0 : d->rank;
        int64_t numel = 1;
        for (int k = 0; k < in[i].rank; k++) {
            in[i].dims[k] = d->dims[k] < 0 ? 1 : d->dims[k];
            numel *= in[i].dims[k];
            ok &= numel <= FUZZ_MAX_INPUT_ELEMS;
        }
        if (ok)
            in[i].data = calloc((size_t)numel + 1, 8);
    }
    if (ok && onnx_session_new(m, &s, &err) == 0)
        (void)onnx_session_run(s, in, n_in, out, n_out, &err);
    onnx_session_free(s);
    for (size_t i = 0; i < n_in; i++)
        free(in[i].data);
    free(in);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct onnx_model *m = NULL;
    struct inf_err err;
    if (onnx_model_load_mem(data, size, "fuzz", &m, &err) != 0)
        return 0;
    onnx_model_set_arena_limit(m, FUZZ_MAX_ARENA_BYTES);
    run_once(m);
    onnx_model_free(m);
    return 0;
}
