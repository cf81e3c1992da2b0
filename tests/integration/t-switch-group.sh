#!/usr/bin/env bash
# t-group.sh with nginx_switch = lua: the leader's switch alone reaches
# nginx (followers are not in it), over the switch socket; a follower that
# crashes takes the group back, nginx to the old ports, still no reload.
GROUP_SWITCH=lua exec bash "$(dirname "$0")/t-group.sh"
