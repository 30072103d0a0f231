#pragma once

#include <connkit/conn_state.hpp>
#include <connkit/connection.hpp>
#include <connkit/datagram_framing.hpp>
#include <connkit/deferred_reply.hpp>
#include <connkit/error.hpp>
#include <connkit/log.hpp>
#include <connkit/options.hpp>
#include <connkit/protocol_handler.hpp>
#include <connkit/reply_list.hpp>
#include <connkit/server.hpp>
#include <connkit/stats.hpp>
#include <connkit/version.hpp>
