# Prints, as JSON, how IniParse (the INI library tpm reads tungsten.ini with; Debian's ruby-iniparse)
# reads each file: its sections in order, each with its options in order (a repeated key once per line).
# tpm reads it with two changes, made here too: values are kept as text (no typecast), and a line
# without "=" is an option with no value. The file is parsed as tpm's bundled IniParse 1.3.2 opens it
# (IniParse.open in 1.4 first joins lines ending in a backslash; 1.3.2, and so tpm, does not).
require 'json'
require 'iniparse'

module IniParse
  module Lines
    class Option
      def self.typecast(value)
        value
      end
    end

    class KeyOnly < Option
      @regex = /^\s*([^=]+)$/

      def self.parse(line, opts)
        m = @regex.match(line)
        m && [:option, m[1].strip, nil, opts]
      end
    end
  end
end
IniParse::Parser.parse_types = [IniParse::Lines::Section, IniParse::Lines::Option, IniParse::Lines::KeyOnly, IniParse::Lines::Blank]

out = {}
ARGV.each do |file|
  doc = IniParse::Parser.new(File.read(file)).parse
  out[File.basename(file)] = doc.map do |section|
    options = []
    section.each { |line| [*line].each { |o| options << [o.key, o.value.to_s] } }
    { 'name' => section.key, 'options' => options }
  end
end
puts JSON.generate(out)
