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
# The shim links only PKGS; berthd, the CLI and libberth add DAEMON_PKGS (the shim must stay small: DESIGN.md).
PKGS := libprotobuf-c jansson
DAEMON_PKGS := sqlite3 libnghttp2 libcurl libarchive libcrypto zlib libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(DAEMON_PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
# libcurl and libarchive are compiled against, not linked: berthd loads them on first use
# (src/remotes/curl-lib.c, src/images/archive-lib.c); their dependencies cost milliseconds at every start.
DAEMON_LIBS := $(shell pkg-config --libs $(filter-out libcurl libarchive,$(DAEMON_PKGS)) $(PKGS)) -lpthread -ldl
# Unit tests that build their fixtures with libarchive or libcurl themselves link them.
LAZY_LIBS := $(shell pkg-config --libs libcurl libarchive)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
        -Wformat=2 -Wno-format-nonliteral -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wvla -Wimplicit-fallthrough
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu17 $(CFLAGS) $(WARN) $(SANFLAGS) -fno-common -fstack-protector-strong \
        -D_GNU_SOURCE -Isrc -Iinclude -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
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
# berthd's modules: gRPC, metadata (SQLite), content store, snapshotters, images/unpack, registry client, services.
DAEMON_SRC := $(sort $(wildcard src/grpc/*.c src/metadata/*.c src/content/*.c src/snapshots/*.c src/images/*.c \
                                src/remotes/*.c src/services/*.c src/events/*.c src/runtime/*.c src/spec/*.c \
                                src/logs/*.c))
DAEMON_SRC := $(filter-out src/logs/logger-main.c,$(DAEMON_SRC))
DAEMON_O := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(DAEMON_SRC))
BERTHD_O := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(sort $(wildcard src/berthd/*.c)))
CLIENT_O := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(sort $(wildcard src/client/*.c)))
CLI_O := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(sort $(wildcard src/cli/*.c)))
GRPC_O := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(sort $(wildcard src/grpc/*.c)))

TEST_SRC := $(sort $(wildcard tests/unit/test-*.c))
# Small programs the integration tests drive (e.g. shim-call: one Task method on a shim socket).
TOOL_BIN := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(sort $(wildcard tests/tools/*.c)))
TEST_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))

LIBCORE := $(BUILD)/libberth-core.a
LIBDAEMON := $(BUILD)/libberth-daemon.a
LIBBERTH := $(BUILD)/libberth.a
SHIM := $(BUILD)/containerd-shim-berth-v2
BERTHD := $(BUILD)/berthd
CLI := $(BUILD)/berth

.SECONDARY:
.PHONY: all clean test test-unit test-integration asan fuzz bench
all: $(SHIM) $(LIBBERTH) $(if $(BERTHD_O),$(BERTHD)) $(if $(CLI_O),$(CLI)) $(TEST_BIN) $(TOOL_BIN)

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

$(LIBDAEMON): $(DAEMON_O)
	@rm -f $@
	ar rcs $@ $^

# libberth, the C client library: errors, event loop, ttrpc, protocol messages, the gRPC client and the client API.
$(LIBBERTH): $(CORE_O) $(PROTO_O) $(GRPC_O) $(CLIENT_O)
	@rm -f $@
	ar rcs $@ $^

$(BERTHD): $(BERTHD_O) $(LIBDAEMON) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $(BERTHD_O) $(LIBDAEMON) $(LIBCORE) $(DAEMON_LIBS)

$(CLI): $(CLI_O) $(LIBBERTH)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_O) $(LIBBERTH) $(DAEMON_LIBS)

# The shim is linked statically (outside sanitizer builds): one small file whose idle pages it can drop, instead of
# the resident pages of libc.so and ld.so that a dynamic link maps into every shim (bench/shim-memory.sh measures it).
ifeq ($(SANITIZE),1)
SHIM_LINK := $(PKG_LIBS)
else
SHIM_LINK := -static -Wl,--gc-sections -l:libprotobuf-c.a -l:libjansson.a
endif
$(SHIM): $(SHIM_O) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $(SHIM_O) $(LIBCORE) $(SHIM_LINK)

# Shim modules (all but main) for unit tests, as an archive so a test pulls in only what it uses.
SHIM_LIB := $(BUILD)/libberth-shim-test.a
$(SHIM_LIB): $(filter-out $(BUILD)/obj/shim/main.o,$(SHIM_O))
	@rm -f $@
	ar rcs $@ $^

# Unit tests link every library (an archive contributes only what a test uses).
TEST_LIBS := $(SHIM_LIB) $(LIBDAEMON) $(if $(CLIENT_O),$(LIBBERTH)) $(LIBCORE)
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TEST_LIBS) $(DAEMON_LIBS) $(LAZY_LIBS)

$(BUILD)/obj/tools/%.o: tests/tools/%.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tools/%: $(BUILD)/obj/tools/%.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCORE) $(PKG_LIBS)

# Tools that speak gRPC (tests/tools/grpc-*.c) link the client library instead (nghttp2 and friends).
$(BUILD)/tools/grpc-%: $(BUILD)/obj/tools/grpc-%.o $(LIBBERTH)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBBERTH) $(DAEMON_LIBS)

test: all
	@bash tests/run-all.sh

test-unit: all
	@SUITES=unit bash tests/run-all.sh

asan:
	$(MAKE) SANITIZE=1

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- fuzzing (libFuzzer) ---------------------------------------------------------------------------------------
# `make fuzz` builds build-fuzz/fuzz-ttrpc with clang from the same sources as the core library (basic + ttrpc +
# the envelope protos), instrumented with -fsanitize=fuzzer,address,undefined. `make fuzz-regress` replays the seed
# corpus plus a short deterministic mutation run (new inputs go to a temp dir, never into fuzz/corpus).
FUZZ_BUILD := build-fuzz
FUZZ_CC := clang
FUZZ_PROTOS := proto/ttrpc/request.proto proto/google/rpc/status.proto proto/google/protobuf/any.proto
FUZZ_GEN := $(patsubst proto/%.proto,$(FUZZ_BUILD)/gen/%.pb-c.c,$(FUZZ_PROTOS))
FUZZ_SRC := $(sort $(wildcard src/basic/*.c src/ttrpc/*.c))
FUZZ_CFLAGS := -std=gnu17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -fno-omit-frame-pointer -D_GNU_SOURCE -Isrc -I$(FUZZ_BUILD)/gen $(shell pkg-config --cflags libprotobuf-c) \
        -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers

fuzz: $(FUZZ_BUILD)/fuzz-ttrpc

$(FUZZ_BUILD)/fuzz-ttrpc: fuzz/fuzz-ttrpc.c $(FUZZ_SRC) $(wildcard src/basic/*.h src/ttrpc/*.h) $(FUZZ_PROTOS)
	@mkdir -p $(FUZZ_BUILD)/gen
	$(PROTOC) -Iproto --c_out=$(FUZZ_BUILD)/gen $(FUZZ_PROTOS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/fuzz-ttrpc.c $(FUZZ_SRC) $(FUZZ_GEN) $(shell pkg-config --libs libprotobuf-c)

.PHONY: fuzz-regress
fuzz-regress: $(FUZZ_BUILD)/fuzz-ttrpc
	@d=$$(mktemp -d) && $(FUZZ_BUILD)/fuzz-ttrpc -runs=2000 -seed=1 $$d fuzz/corpus/ttrpc; r=$$?; rm -rf "$$d"; exit $$r

# gRPC message-prefix decoder and header codings (src/grpc/message.c, metadata.c); added by helper g1.
fuzz: $(FUZZ_BUILD)/fuzz-grpc-message

$(FUZZ_BUILD)/fuzz-grpc-message: fuzz/fuzz-grpc-message.c src/grpc/message.c src/grpc/metadata.c \
                                 $(wildcard src/basic/*.c src/basic/*.h src/grpc/*.h)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/fuzz-grpc-message.c src/grpc/message.c src/grpc/metadata.c \
	        $(sort $(wildcard src/basic/*.c)) $(shell pkg-config --libs libprotobuf-c)

.PHONY: fuzz-regress-grpc-message
fuzz-regress: fuzz-regress-grpc-message
fuzz-regress-grpc-message: $(FUZZ_BUILD)/fuzz-grpc-message
	@d=$$(mktemp -d) && $(FUZZ_BUILD)/fuzz-grpc-message -runs=5000 -seed=1 $$d fuzz/corpus/grpc-message; r=$$?; \
	        rm -rf "$$d"; exit $$r

# fuzz-tar (helper g3): arbitrary bytes applied as a layer into a temp root (src/images/apply*); nothing may escape.
FUZZ_TAR_SRC := $(sort $(wildcard src/basic/*.c src/images/apply*.c src/images/digest*.c)) src/images/archive-lib.c
fuzz: $(FUZZ_BUILD)/fuzz-tar

$(FUZZ_BUILD)/fuzz-tar: fuzz/fuzz-tar.c $(FUZZ_TAR_SRC) $(wildcard src/basic/*.h src/images/*.h)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/fuzz-tar.c $(FUZZ_TAR_SRC) $(shell pkg-config --libs libcrypto zlib libzstd) -lpthread -ldl

# fuzz-filters (helper g2): containerd's filter grammar (src/metadata/filters.c, labels.c).
FUZZ_FILTERS_SRC := $(sort $(wildcard src/basic/*.c)) src/metadata/filters.c src/metadata/labels.c
fuzz: $(FUZZ_BUILD)/fuzz-filters

$(FUZZ_BUILD)/fuzz-filters: fuzz/fuzz-filters.c $(FUZZ_FILTERS_SRC) $(wildcard src/basic/*.h src/metadata/*.h)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/fuzz-filters.c $(FUZZ_FILTERS_SRC) -lpthread

.PHONY: fuzz-regress-filters
fuzz-regress: fuzz-regress-filters
fuzz-regress-filters: $(FUZZ_BUILD)/fuzz-filters
	@d=$$(mktemp -d) && $(FUZZ_BUILD)/fuzz-filters -runs=20000 -seed=1 $$d fuzz/corpus/filters; r=$$?; \
	        rm -rf "$$d"; exit $$r

# fuzz-json-scan: finding one member of a JSON object without parsing it (src/basic/json-scan.c), checked against
# jansson's full parse.
fuzz: $(FUZZ_BUILD)/fuzz-json-scan

$(FUZZ_BUILD)/fuzz-json-scan: fuzz/fuzz-json-scan.c $(sort $(wildcard src/basic/*.c)) $(wildcard src/basic/*.h)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/fuzz-json-scan.c $(sort $(wildcard src/basic/*.c)) \
	        $(shell pkg-config --libs jansson) -lpthread

.PHONY: fuzz-regress-json-scan
fuzz-regress: fuzz-regress-json-scan
fuzz-regress-json-scan: $(FUZZ_BUILD)/fuzz-json-scan
	@d=$$(mktemp -d) && $(FUZZ_BUILD)/fuzz-json-scan -runs=20000 -seed=1 $$d fuzz/corpus/json-scan; r=$$?; \
	        rm -rf "$$d"; exit $$r

# fuzz-reference, fuzz-manifest (helper g4): image references + platform specifiers; indexes, manifests and
# image configs (src/images/reference.c, mediatype.c, platform.c, manifest*.c).
FUZZ_IMAGES_SRC := $(sort $(wildcard src/basic/*.c src/images/manifest*.c)) src/images/reference.c \
        src/images/mediatype.c src/images/platform.c
fuzz: $(FUZZ_BUILD)/fuzz-reference $(FUZZ_BUILD)/fuzz-manifest

$(FUZZ_BUILD)/fuzz-reference $(FUZZ_BUILD)/fuzz-manifest: $(FUZZ_BUILD)/fuzz-%: fuzz/fuzz-%.c $(FUZZ_IMAGES_SRC) \
                                                         $(wildcard src/basic/*.h src/images/*.h)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_IMAGES_SRC) $(shell pkg-config --libs jansson) -lpthread

.PHONY: fuzz-regress-reference fuzz-regress-manifest
fuzz-regress: fuzz-regress-reference fuzz-regress-manifest
fuzz-regress-reference fuzz-regress-manifest: fuzz-regress-%: $(FUZZ_BUILD)/fuzz-%
	@d=$$(mktemp -d) && $(FUZZ_BUILD)/fuzz-$* -runs=20000 -seed=1 $$d fuzz/corpus/$*; r=$$?; rm -rf "$$d"; exit $$r

# berth-logger (helper t4): the binary:// logger shims run for each task (src/logs/logger-main.c + the logs library
# in libberth-daemon.a). Linked like the shim, static outside sanitizer builds: one runs per container.
LOGGER := $(BUILD)/berth-logger
all: $(LOGGER)
$(LOGGER): $(BUILD)/obj/logs/logger-main.o $(LIBDAEMON) $(LIBCORE)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBDAEMON) $(LIBCORE) $(SHIM_LINK)
