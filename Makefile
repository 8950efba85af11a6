# inferd build. `make` builds build/inferd; `make test` installs missing
# Debian packages, builds plain and sanitized (build-asan/), runs every test.
BUILD   ?= build
SAN     ?= 0
CC      := gcc
PKGS    := libh2o-evloop jansson yaml-0.1 sqlite3 libarchive libcurl openssl libjwt python3-embed

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla \
           -Werror=implicit-function-declaration -Werror
CFLAGS  := -std=c11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -g $(WARN) -Isrc -Iinclude -MMD -MP
LDLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -ldl -lm
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O2
endif
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)

SRC       := $(shell find src -name '*.c' | sort)
OBJ       := $(SRC:%.c=$(BUILD)/%.o)
LIB_OBJ   := $(filter-out $(BUILD)/src/main.o,$(OBJ))
.DEFAULT_GOAL := all
include src/onnx/onnx.mk
UNIT_SRC  := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)
UNIT_BIN  := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
EX_SRC    := $(wildcard examples/*/code/*.c)
EX_SO     := $(EX_SRC:%.c=%.so)

.PHONY: all deps test unit asan demo clean lint fmt bench models fuzz
all: $(BUILD)/inferd $(EX_SO) models

# Example models trained at build time from data sets scikit-learn ships
# (not committed: pickles are tied to the library versions that wrote them).
PYTHON  := /usr/bin/python3.11
MODELS  := $(if $(wildcard examples/sklearn-diabetes/train.py),examples/sklearn-diabetes/model-1/model/sklearn_regression_model.pkl) \
           $(if $(wildcard examples/mlflow-iris/make_model.py),examples/mlflow-iris/model/MLmodel) \
           $(if $(wildcard examples/onnx-mlp/make_model.py),examples/onnx-mlp/model/mlp.onnx)
models: $(MODELS)

examples/sklearn-diabetes/model-1/model/sklearn_regression_model.pkl: examples/sklearn-diabetes/train.py
	@echo "  MODEL   $@"
	$(Q)$(PYTHON) $<

examples/mlflow-iris/model/MLmodel: examples/mlflow-iris/make_model.py
	@echo "  MODEL   $@"
	$(Q)$(PYTHON) $< examples/mlflow-iris

examples/onnx-mlp/model/mlp.onnx: examples/onnx-mlp/make_model.py
	@echo "  MODEL   $@"
	$(Q)$(PYTHON) $< examples/onnx-mlp

deps:
	@scripts/deps.sh

# `make V=1` shows full command lines.
ifeq ($(V),1)
Q :=
else
Q := @
endif

$(BUILD)/inferd: $(OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS) -lcmocka

# Example native models: shared libraries built from the example's code folder.
examples/%.so: examples/%.c include/inferd/native.h
	@echo "  SO      $@"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -Iinclude -fPIC -shared -o $@ $< \
	    $(shell pkg-config --cflags --libs jansson 2>/dev/null) -lm

unit: $(UNIT_BIN)

asan:
	$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all unit

# Every test, plain then under AddressSanitizer + UndefinedBehaviorSanitizer.
test: deps
	$(MAKE) --no-print-directory all unit
	$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all unit
	tests/run.sh build build-asan

demo: deps all
	scripts/demo.sh

bench: deps all
	bench/gateway.sh

# libFuzzer targets (clang; Debian libclang-rt-14-dev). Run one on a copy
# of its seed corpus (libFuzzer adds the inputs it finds to the first folder):
#   mkdir -p /tmp/corpus && build/fuzz/onnx_load -max_total_time=60 /tmp/corpus fuzz/corpus/onnx_load
fuzz:
	@scripts/deps.sh --fuzz
	$(MAKE) --no-print-directory $(BUILD)/fuzz/onnx_load

lint:
	clang-format --dry-run --Werror $(SRC) $(UNIT_SRC) $(EX_SRC)
	cppcheck --quiet --error-exitcode=1 --enable=warning -Isrc -Iinclude src

fmt:
	clang-format -i $(SRC) $(UNIT_SRC) $(EX_SRC)

clean:
	rm -rf build build-asan $(EX_SO) $(MODELS) examples/mlflow-iris/model examples/onnx-mlp/model

-include $(OBJ:.o=.d)
