# cl - code language models as Unix pipes.  Plain make; dependencies through pkg-config.
#
#   make               programs in bin/, libraries lib/libcl.a and lib/libcl.so
#   make demo          install what is missing, build, complete "def fibonacci("
#   make check         install what is missing, build, run every test (sanitized
#                      and optimised builds); ends "N passed, N failed"
#   make install       PREFIX=/usr/local (DESTDIR honoured)
#   make fuzz          long fuzzing runs (libFuzzer, clang)     - not part of check
#   make bench         the speed benchmark (scripts/bench)      - not part of check

PREFIX  ?= /usr/local
CC      ?= cc
CXX     ?= c++
CFLAGS  ?= -O2 -g
CXXFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config

WARN     = -Wall -Wextra -Wno-unused-parameter -Werror=implicit -Werror=strict-prototypes \
           -Werror=vla
CJSON_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcjson 2>/dev/null || echo -I/usr/include/cjson)
CJSON_LIBS   := $(shell $(PKG_CONFIG) --libs libcjson 2>/dev/null || echo -lcjson)
SPM_CFLAGS   := $(shell $(PKG_CONFIG) --cflags sentencepiece 2>/dev/null)
SPM_LIBS     := -lsentencepiece
MHD_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS     := $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
ALL_CFLAGS   = -std=c11 -D_GNU_SOURCE -pthread $(LIB_INC) $(CJSON_CFLAGS) $(WARN) $(CFLAGS) \
               -DCL_PREFIX='"$(PREFIX)"'
ALL_CXXFLAGS = -std=c++17 -pthread $(LIB_INC) $(SPM_CFLAGS) -Wall -Wextra $(CXXFLAGS)
LIBS         = $(CJSON_LIBS) $(SPM_LIBS) -lstdc++ -lpthread -lm

SAN_FLAGS = -O1 -g -Wno-format-overflow -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# lib/ by layer: kernels/ (the arithmetic and the thread pool), formats/
# (safetensors and GGUF, in and out), models/ (the families), tokenizers/,
# decode/ (sampler, batch engine, requests); the stream, processes and
# utilities at the top beside cl.h, the one public header.
LIB_DIRS = $(patsubst %/,%,$(wildcard lib/*/))
LIB_INC  = -Ilib $(addprefix -I,$(LIB_DIRS))
LIB_SRC  = $(wildcard lib/*.c lib/*/*.c)
LIB_CXX  = $(wildcard lib/*.cc lib/*/*.cc)
CMD_SRC  = $(wildcard cmd/cl-*.c)
UNIT_SRC = $(wildcard tests/unit/test-*.c)
PROGS    = $(patsubst cmd/%.c,%,$(CMD_SRC))
HDRS     = $(wildcard lib/*.h lib/*/*.h)

VERSION  := $(shell sed -n 's/^\#define CL_VERSION "\(.*\)"/\1/p' lib/cl.h)
SOVERSION = 0

# Two builds of everything: opt (bin/, lib/libcl.a, lib/libcl.so) and san
# (build/san/bin/).  The opt objects are position-independent, so that the
# archive links into PIE programs without text relocations and the same
# objects make the shared library, and they export only what cl.h declares
# (-fvisibility=hidden; cl.h pushes default visibility).
OPT_OBJ = $(patsubst lib/%.c,build/opt/%.o,$(LIB_SRC)) $(patsubst lib/%.cc,build/opt/%.o,$(LIB_CXX))
SAN_OBJ = $(patsubst lib/%.c,build/san/%.o,$(LIB_SRC)) $(patsubst lib/%.cc,build/san/%.o,$(LIB_CXX))

all: $(addprefix bin/,$(PROGS)) lib/libcl.a lib/libcl.so units

lib/libcl.a: $(OPT_OBJ)
	@rm -f $@
	ar rcs $@ $^

# libcl.so.0 (the soname) -> libcl.so.VERSION; the programs in bin/ link the
# archive: they need no library path, and they use helpers that the shared
# library keeps to itself (lib/*.h other than cl.h).
lib/libcl.so.$(VERSION): $(OPT_OBJ) lib/libcl.map
	$(CXX) -shared -Wl,-soname,libcl.so.$(SOVERSION) -Wl,--no-undefined -Wl,--version-script=lib/libcl.map \
	  -o $@ $(OPT_OBJ) $(CJSON_LIBS) $(SPM_LIBS) -lpthread -lm
lib/libcl.so: lib/libcl.so.$(VERSION)
	ln -sf libcl.so.$(VERSION) lib/libcl.so.$(SOVERSION)
	ln -sf libcl.so.$(SOVERSION) lib/libcl.so

# The install prefix is compiled into util.c (where the model is looked for
# last): a build for another prefix rebuilds it.
build/prefix: FORCE | build/opt
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' >$@
build/opt/util.o build/san/util.o: build/prefix

build/san/libcl.a: $(SAN_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/opt/%.o: lib/%.c $(HDRS) | build/opt
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<
build/opt/%.o: lib/%.cc $(HDRS) | build/opt
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) -fPIC -fvisibility=hidden -fvisibility-inlines-hidden -c -o $@ $<
build/san/%.o: lib/%.c $(HDRS) | build/san
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c -o $@ $<
build/san/%.o: lib/%.cc $(HDRS) | build/san
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) $(SAN_FLAGS) -c -o $@ $<

# cl-serve alone links libmicrohttpd.
bin/cl-serve build/san/bin/cl-serve: LIBS += $(MHD_LIBS)
bin/cl-serve build/san/bin/cl-serve: ALL_CFLAGS += $(MHD_CFLAGS)

bin/%: cmd/%.c cmd/cmd.h lib/libcl.a | bin
	$(CC) $(ALL_CFLAGS) -o $@ $< lib/libcl.a $(LIBS)
build/san/bin/%: cmd/%.c cmd/cmd.h build/san/libcl.a | build/san/bin
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -o $@ $< build/san/libcl.a $(LIBS)

build/opt/tests/%: tests/unit/%.c tests/unit/t.h lib/libcl.a | build/opt/tests
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< lib/libcl.a $(LIBS)
build/san/tests/%: tests/unit/%.c tests/unit/t.h build/san/libcl.a | build/san/tests
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/unit -o $@ $< build/san/libcl.a $(LIBS)

units: $(patsubst tests/unit/%.c,build/opt/tests/%,$(UNIT_SRC))
san: $(addprefix build/san/bin/,$(PROGS)) $(patsubst tests/unit/%.c,build/san/tests/%,$(UNIT_SRC))

bin build/opt build/san build/san/bin build/opt/tests build/san/tests:
	mkdir -p $@

# The suite runs once against the sanitized build and once against the
# optimised one (the fast kernels and the timing-free pipelines); it ends with
# "N passed, N failed" and fails when anything failed.
# Both entry points install what is missing first (scripts/setup), then
# build in a fresh make so that pkg-config sees what was installed.
check:
	scripts/setup
	$(MAKE) all san
	tests/run

demo:
	scripts/setup
	$(MAKE) all
	bin/cl-complete --greedy --repetition-penalty 1.3 --stop-at-dedent --max-new-tokens 64 "def fibonacci("

fuzz:
	scripts/fuzz

bench: all
	scripts/bench

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/cl/models
	install -m 755 $(addprefix bin/,$(PROGS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 755 scripts/cl-batch $(DESTDIR)$(PREFIX)/bin/
	install -m 644 scripts/cl-batch.sbatch $(DESTDIR)$(PREFIX)/share/cl/
	install -m 644 lib/libcl.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 lib/libcl.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libcl.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libcl.so.$(SOVERSION)
	ln -sf libcl.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libcl.so
	install -m 644 lib/cl.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	if [ -d models ]; then cp -R models/. $(DESTDIR)$(PREFIX)/share/cl/models/; fi
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|' \
	  libcl.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libcl.pc

clean:
	rm -rf bin build lib/libcl.a lib/libcl.so lib/libcl.so.*

.PHONY: all check demo install clean fuzz bench units san FORCE
.SECONDARY:
