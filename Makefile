# berth — top-level build. `make` builds everything into build/; `make test` runs every suite.
# `make SANITIZE=1` builds an ASan+UBSan tree into build-asan/.
# Sources are picked up by directory, so adding a module means adding files, not editing this.

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS :=
endif

CC ?= gcc
PROTOC ?= protoc-c
PKGS := libprotobuf-c jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
        -Wformat=2 -Wno-format-nonliteral -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wvla -Wimplicit-fallthrough
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu17 $(CFLAGS) $(WARN) $(SANFLAGS) -fno-common -fstack-protector-strong \
        -D_GNU_SOURCE -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS) -Wl,-z,relro,-z,now
# The generated protobuf code trips -Wshadow/-Wmissing-prototypes in places we do not own.
GEN_CFLAGS := $(filter-out -Wshadow -Wmissing-prototypes -Wstrict-prototypes,$(ALL_CFLAGS))

PROTOS := $(shell find proto -name '*.proto' | sort)
PROTO_C := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)
PROTO_O := $(patsubst $(BUILD)/gen/%.c,$(BUILD)/obj/gen/%.o,$(PROTO_C))

CORE_SRC := $(sort $(wildcard src/basic/*.c src/ttrpc/*.c src/cgroups/*.c))
CORE_O := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CORE_SRC))
SHIM_SRC := $(sort $(wildcard src/shim/*.c))
SHIM_O := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SHIM_SRC))

TEST_SRC := $(sort $(wildcard tests/unit/test-*.c))
TEST_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))

LIBCORE := $(BUILD)/libberth-core.a
SHIM := $(BUILD)/containerd-shim-berth-v2

.SECONDARY:
.PHONY: all clean test test-unit test-integration asan fuzz bench
all: $(SHIM) $(BUILD)/libberth.a $(TEST_BIN)

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	$(PROTOC) -Iproto --c_out=$(BUILD)/gen $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(GEN_CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: src/%.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/unit/%.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -c $< -o $@

$(LIBCORE): $(CORE_O) $(PROTO_O)
	@rm -f $@
	ar rcs $@ $^

# The client library; grows with berthd. For now: errors, logging, event loop, ttrpc, protocol messages.
$(BUILD)/libberth.a: $(LIBCORE)
	cp $< $@

$(SHIM): $(SHIM_O) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $(SHIM_O) $(LIBCORE) $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCORE) $(PKG_LIBS)

test: all
	@bash tests/run-all.sh

test-unit: all
	@SUITES=unit bash tests/run-all.sh

asan:
	$(MAKE) SANITIZE=1

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
