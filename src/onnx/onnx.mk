# ONNX engine build fragment, included by the main Makefile right after OBJ and
# LIB_OBJ are defined. It generates the protobuf-c bindings for the onnx.proto
# Debian's libonnx-dev ships into $(BUILD)/gen/ (never committed), adds their
# object to the link, and links OpenBLAS and libprotobuf-c.
ONNX_PROTO   ?= /usr/include/onnx/onnx.proto
ONNX_GEN     := $(BUILD)/gen
ONNX_PB_C    := $(ONNX_GEN)/onnx.pb-c.c
ONNX_PB_H    := $(ONNX_GEN)/onnx.pb-c.h
ONNX_PB_O    := $(ONNX_GEN)/onnx.pb-c.o
ONNX_OBJ     := $(filter $(BUILD)/src/onnx/%,$(OBJ))
ONNX_PKGS    := libprotobuf-c openblas

OBJ     += $(ONNX_PB_O)
LIB_OBJ += $(ONNX_PB_O)
CFLAGS  += -I$(ONNX_GEN) $(shell pkg-config --cflags $(ONNX_PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs libprotobuf-c 2>/dev/null || echo -lprotobuf-c) \
           $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm

# The kernels are the hot path: let the compiler vectorise them (outside the
# sanitizer build, which keeps its -O1).
ifneq ($(SAN),1)
$(ONNX_OBJ): CFLAGS += -O3
endif

# protoc-c names its outputs after the .proto's path, so it runs from the
# proto's own directory with --proto_path there.
$(ONNX_PB_C) $(ONNX_PB_H) &: $(ONNX_PROTO)
	@mkdir -p $(ONNX_GEN)
	@echo "  PROTOC  $(ONNX_PB_C)"
	$(Q)protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(ONNX_GEN) $(ONNX_PROTO)

$(ONNX_PB_O): $(ONNX_PB_C) $(ONNX_PB_H)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

# Every engine object (and its tests) may include the generated header.
$(ONNX_OBJ): | $(ONNX_PB_H)
$(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/onnx/test_*.c)): | $(ONNX_PB_H)

# The ONNX conformance node tests, generated from python3-onnx's own numpy
# reference cases for the operators the engine supports (not committed).
ONNX_CONFORMANCE := $(BUILD)/onnx-conformance
$(ONNX_CONFORMANCE)/.stamp: tests/onnx/make_conformance.py
	@echo "  GEN     $(ONNX_CONFORMANCE)"
	$(Q)rm -rf $(ONNX_CONFORMANCE) && /usr/bin/python3.11 $< $(ONNX_CONFORMANCE)
	@touch $@
$(BUILD)/tests/unit/onnx/test_conformance: $(ONNX_CONFORMANCE)/.stamp

# libFuzzer target for the loader: `make $(BUILD)/fuzz/onnx_load`, then run
# `$(BUILD)/fuzz/onnx_load fuzz/corpus/onnx_load` (clang, libclang-rt-14-dev).
ONNX_FUZZ_SRC := $(filter src/onnx/%.c src/core/%.c,$(SRC)) $(ONNX_PB_C)
$(BUILD)/fuzz/onnx_load: fuzz/onnx_load.c $(ONNX_FUZZ_SRC) | $(ONNX_PB_H)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -Isrc -I$(ONNX_GEN) \
	    $(shell pkg-config --cflags $(ONNX_PKGS) 2>/dev/null) -o $@ $^ \
	    $(shell pkg-config --libs $(ONNX_PKGS) openssl 2>/dev/null) -lm
