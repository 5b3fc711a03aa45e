# dist.mk - the protection sweep's scoring on other machines: GNU parallel
# over ssh.  protect.mk includes it when HOSTS is given:
#
#   make -f pipelines/protect.mk HOSTS='node1 8/alice@node2' [SSH='ssh -p 2222'] [-j2]
#
# The groups of a method are the jobs of one parallel run over HOSTS, a
# greedy round is a run of one job (pipelines/lib/dist does the work):
# the binaries, protect-group, the model, the languages and the tokens are
# sent once to each host, every job runs protect-group there, its tables
# come back and are moved into place once it has succeeded, the remote
# files are removed, and a job log lets a failed or interrupted run resume
# (`make` again runs only the jobs left).  The tables are the same bytes
# as a local run's.
#
# Here GNU parallel and rsync are needed; each host runs the same Debian
# as this one (the binaries are sent as they are) with perl, rsync, and
# GNU parallel when it has to count its CPUs (no ncpus/, DIST_JOBS a
# percentage).  ssh must log in without a password.
#
# Variables a user may set:
#   HOSTS         the machines: GNU parallel sshlogins '[ncpus/][user@]host'
#                 separated by spaces (not ':', this machine)
#   SSH           the ssh command, with its options (default: ssh), e.g.
#                 SSH='ssh -p 2222 -i ~/.ssh/qf'
#   DIST_JOBS     jobs at a time on each host (parallel's -j): by default
#                 one when JOBS is empty (qf-eval then uses every CPU),
#                 otherwise 100/JOBS % of the host's CPUs
#   DIST_WORKDIR  where the files go on a host (default .qf-dist, in the
#                 login dir unless absolute); each run has its own dir
#                 there, removed at the end of the run
#   DIST_DIR      the local state of the runs (default OUT/dist): per run
#                 (proper, compat, greedy-rN) the job log 'joblog', the
#                 jobs 'jobs' and 'table', the tables returned 'return/'
# and GNU parallel's own: more options in the environment variable
# PARALLEL, e.g. PARALLEL='--sshdelay 0.1'.

SSH ?= ssh
DIST_JOBS ?= $(if $(JOBS),$(shell echo $$(( 100 / $(JOBS) > 0 ? 100 / $(JOBS) : 1 )))%,1)
DIST_WORKDIR ?= .qf-dist
DIST_DIR ?= $(OUT)/dist
DIST := $(LIB)/dist

dist_opts = -S '$(HOSTS)' -e '$(SSH)' -j '$(DIST_JOBS)' -w '$(DIST_WORKDIR)'

# $(call dist-groups-rule,METHOD): every group of METHOD, one parallel run.
# The tables are precious: when some groups fail, make must not delete the
# others' (each is whole, moved into place once its job succeeded), so
# that make again runs only the failed ones
define dist-groups-rule
$(foreach g,$(GROUP_IDS),$(OUT)/$(1)/g$(g).lang.tsv $(OUT)/$(1)/g$(g).disp.tsv $(OUT)/$(1)/g$(g).stats.tsv) &: $(OUT)/$(1)/tokens.qft $(MODEL) $(LANGUAGES) $(TOOLS)
	$(call group_env,$(1)) $(DIST) $(dist_opts) -p '$$^' -s $(DIST_DIR)/$(1) $(1) $(foreach g,$(GROUP_IDS),'$(OUT)/$(1)/g$(g) $(strip $(call group_configs,$(g)))')
.PRECIOUS: $(foreach g,$(GROUP_IDS),$(OUT)/$(1)/g$(g).lang.tsv $(OUT)/$(1)/g$(g).disp.tsv $(OUT)/$(1)/g$(g).stats.tsv)
endef

# $(call score,METHOD,PREFIX,CONFIGS): one group as one remote job (its
# state in DIST_DIR/DIR-NAME for PREFIX DIR/NAME).  For a recipe made
# by $(eval), as protect.mk's rounds are: $$^ becomes $^ there
dist_state = $(DIST_DIR)/$(notdir $(patsubst %/,%,$(dir $(1))))-$(notdir $(1))
score = $(call group_env,$(1)) $(DIST) $(dist_opts) -p '$$^' -s $(call dist_state,$(2)) $(1) "$(2) $(3)"
