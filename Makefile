# Makefile — PGXS build of concord: make, make install, make installcheck.
#
# Sources are found by folder: common/ (pure C++), extension/ (ordinary
# backends and the output plugin), worker/ (background workers).

EXTENSION = concord
MODULE_big = concord
DATA = $(wildcard sql/concord--*.sql)
PGFILEDESC = "concord - multi-master replication mesh"

SOURCES = $(sort $(wildcard common/*/*.cpp extension/*.cpp extension/*/*.cpp worker/*/*.cpp))
OBJS = $(SOURCES:.cpp=.o)

PG_CPPFLAGS = -I$(CURDIR) -I$(shell $(PG_CONFIG) --includedir)
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
              -Wno-register -fno-omit-frame-pointer
# -MMD -MP: gcc records each object's header dependencies in a .d file next
# to it, so changing a header rebuilds every object that includes it.
PG_CXXFLAGS += -MMD -MP
SHLIB_LINK = -lpq -lstdc++
EXTRA_CLEAN = $(OBJS:.o=.d)

# pg_regress suite (tests/regress) run against a temporary instance that has
# concord preloaded; see tests/regress/concord.conf.
REGRESS = $(basename $(notdir $(wildcard tests/regress/sql/*.sql)))
REGRESS_OPTS = --inputdir=tests/regress --outputdir=tests/regress/results \
               --temp-config=tests/regress/concord.conf --temp-instance=tests/regress/tmp_check \
               --load-extension=concord

# PostgreSQL's LLVM build would also compile every .cpp to bitcode with
# clang's own C++ flags; concord gains nothing from JIT inlining, so skip it.
# (An override here wins over the assignment inside Makefile.global.)
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

-include $(OBJS:.o=.d)

# installcheck against the temporary instance above, not a running server.
installcheck: REGRESS_OPTS += --port=$(or $(CONCORD_REGRESS_PORT),54329)

.PHONY: unit
unit:
	cmake -S . -B build/unit -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build/unit --parallel 2
	cd build/unit && ctest --output-on-failure

clean: clean-concord
.PHONY: clean-concord
clean-concord:
	rm -rf tests/regress/results tests/regress/tmp_check tests/regress/log
