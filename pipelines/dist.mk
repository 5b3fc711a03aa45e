# dist.mk - the stages of a study on other machines, over ssh.
# common.mk includes it, so every study has
#
#   $(call remote,OUTPUTS,INPUTS,COMMAND)
#
# for a recipe: COMMAND as it is when HOSTS is empty, otherwise
# `pipelines/lib/dist run`, which sends INPUTS (and the binaries of BIN
# that COMMAND names) to one of HOSTS, runs COMMAND there with their
# paths rewritten to the host's work dir and this machine's kernels,
# brings OUTPUTS back and moves them into place only when it succeeded,
# and removes the files from the host.  The stages of one `make -j` run
# at once on the hosts' free slots (DIST_JOBS a host).  COMMAND is a
# bash command line, as in a recipe (pipes and redirections included);
# every file it reads must be among INPUTS, every file it writes among
# OUTPUTS (or a temporary file beside one, e.g. $@.tmp), each spelled as
# in COMMAND.  An OUTPUT that is also an INPUT, or no COMMAND, stops make
# (exit 2).  E.g. reliability.mk's qf-eval passes:
#
#   make -j2 -f pipelines/reliability.mk JOBS=1 HOSTS='node1 8/alice@node2'
#
# And the protection sweep (protect.mk): the groups of a method are the
# jobs of one GNU parallel run over HOSTS, a greedy round a run of one job
# (`pipelines/lib/dist METHOD JOB...`): the binaries, protect-group, the
# model, the languages and the tokens are sent once to each host, every
# job runs protect-group there, its tables come back and are moved into
# place once it has succeeded, the remote files are removed, and a job
# log lets a failed or interrupted run resume (`make` again runs only the
# jobs left).
#
# Either way the results are the same bytes as a local run's: every host
# must report the provenance line of this machine's qf binaries (the same
# OpenBLAS core, chosen the same way, the same vector code) or nothing
# runs there.
#
# Here rsync is needed (and GNU parallel for the protection sweep); each
# host runs the same Debian as this one (the binaries are sent as they
# are) with rsync, and perl and GNU parallel for the sweep (GNU parallel
# when it has to count its CPUs: no ncpus/, DIST_JOBS a percentage).  ssh
# must log in without a password.
#
# Variables a user may set:
#   HOSTS         the machines: GNU parallel sshlogins '[ncpus/][user@]host'
#                 separated by spaces (not ':', this machine); read from
#                 the command line only (an exported HOSTS is ignored)
#   SSH           the ssh command, with its options (default: ssh), e.g.
#                 SSH='ssh -p 2222 -i ~/.ssh/qf'
#   DIST_JOBS     jobs (stages) at a time on each host: by default one
#                 when JOBS is empty (qf's tools then use every CPU),
#                 otherwise 100/JOBS % of the host's CPUs (a stage: of
#                 the ncpus/ given in HOSTS, one without)
#   DIST_WORKDIR  where the files go on a host (default .qf-dist, in the
#                 login dir unless absolute); each run or stage has its
#                 own dir there, removed at the end
#   DIST_DIR      the local state (default OUT/dist): per run of the sweep
#                 (proper, compat, greedy-rN) the job log 'joblog', the
#                 jobs 'jobs' and 'table', the tables returned 'return/';
#                 per stage stages/NAME-N/ with its job log 'joblog'; the
#                 hosts' slots hosts/
# and GNU parallel's own: more options in the environment variable
# PARALLEL, e.g. PARALLEL='--sshdelay 0.1'.

HOSTS ?=
# an exported HOSTS (a common name) does not switch a run to other machines
ifeq ($(origin HOSTS),environment)
HOSTS :=
endif
SSH ?= ssh
DIST_JOBS ?= $(if $(JOBS),$(shell echo $$(( 100 / $(JOBS) > 0 ? 100 / $(JOBS) : 1 )))%,1)
DIST_WORKDIR ?= .qf-dist
DIST_DIR ?= $(OUT)/dist
DIST := $(LIB)/dist

dist_opts = -S '$(HOSTS)' -e '$(SSH)' -j '$(DIST_JOBS)' -w '$(DIST_WORKDIR)'

# $(call remote,OUTPUTS,INPUTS,COMMAND): a recipe's command, on one of
# HOSTS when there are any
remote = $(if $(strip $(1)),,$(error remote: no output))$(if $(strip $(3)),,$(error remote: no command for $(1)))$(if \
	$(filter $(1),$(2)),$(error remote: $(filter $(1),$(2)): an output that is also an input))$(if $(HOSTS),$(DIST) run \
	$(dist_opts) -d '$(DIST_DIR)' -B '$(BIN)' $(foreach f,$(2),-i '$(f)') $(foreach f,$(1),-o '$(f)') \
	-- '$(subst ','\'',$(strip $(3)))',$(3))

# $(call dist-groups-rule,METHOD): every group of METHOD, one parallel run.
# The tables are precious: when some groups fail, make must not delete the
# others' (each is whole, moved into place once its job succeeded), so
# that make again runs only the failed ones
define dist-groups-rule
$(foreach g,$(GROUP_IDS),$(call group_out,$(1),$(g))) &: $(OUT)/$(1)/tokens.qft $(MODEL) $(LANGUAGES) $(TOOLS) $(CHANNEL_STATS)
	$(call group_env,$(1),$(JOBS),,$(CONTRASTS)) $(DIST) $(dist_opts) -p '$$^' -s $(DIST_DIR)/$(1) $(1) $(foreach g,$(GROUP_IDS),'$(OUT)/$(1)/g$(g) $(strip $(call method_configs,$(1),$(call group_configs,$(g))))')
.PRECIOUS: $(foreach g,$(GROUP_IDS),$(call group_out,$(1),$(g)))
endef

# $(call score,METHOD,PREFIX,CONFIGS,JOBS): one group as one remote job (its
# state in DIST_DIR/DIR-NAME for PREFIX DIR/NAME).  For a recipe made
# by $(eval), as protect.mk's rounds are: $$^ becomes $^ there
dist_state = $(DIST_DIR)/$(notdir $(patsubst %/,%,$(dir $(1))))-$(notdir $(1))
score = $(call group_env,$(1),$(4),$(5),$(6)) $(DIST) $(dist_opts) -p '$$^' -s $(call dist_state,$(2)) $(1) "$(2) $(3)"
