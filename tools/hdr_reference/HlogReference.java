// A third-party reading of a latency.hlog: the Java reference HdrHistogram library (2.1.x/2.2.x)
// reads every line with its own HistogramLogReader, adds the lines of each tag ("" = untagged),
// and prints per tag: total count, max, the value at each requested percentile (the library's
// getValueAtPercentile, nearest rank rounded up) and every populated bucket. One JSON object per
// line, so tests/measure/test_reference_reader.py compares it with what the harness computes.
//
// Run (no build step; Java 11+ source launcher):
//   java -cp HdrHistogram.jar tools/hdr_reference/HlogReference.java latency.hlog 50 90 99 99.9
import java.io.File;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.HdrHistogram.EncodableHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.HdrHistogram.HistogramLogReader;

public class HlogReference {
    public static void main(String[] args) throws Exception {
        HistogramLogReader reader = new HistogramLogReader(new File(args[0]));
        Map<String, Histogram> byTag = new TreeMap<>();
        Map<String, Integer> lines = new TreeMap<>();
        EncodableHistogram next;
        while ((next = reader.nextIntervalHistogram()) != null) {
            String tag = next.getTag() == null ? "" : next.getTag();
            Histogram acc = byTag.computeIfAbsent(tag, t -> new Histogram(3));
            acc.add((Histogram) next);
            lines.merge(tag, 1, Integer::sum);
        }
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "{\"start_time_s\":%.3f}%n", reader.getStartTimeSec()));
        for (Map.Entry<String, Histogram> e : byTag.entrySet()) {
            Histogram h = e.getValue();
            out.append("{\"tag\":\"").append(e.getKey()).append("\",\"lines\":").append(lines.get(e.getKey()));
            out.append(",\"count\":").append(h.getTotalCount()).append(",\"max\":").append(h.getMaxValue());
            out.append(",\"percentiles\":{");
            for (int i = 1; i < args.length; i++) {
                double p = Double.parseDouble(args[i]);
                if (i > 1) out.append(',');
                out.append('"').append(args[i]).append("\":").append(h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(p));
            }
            out.append("},\"buckets\":[");
            boolean first = true;
            for (HistogramIterationValue v : h.recordedValues()) {
                if (!first) out.append(',');
                first = false;
                out.append('[').append(v.getValueIteratedTo()).append(',').append(v.getCountAtValueIteratedTo()).append(']');
            }
            out.append("]}").append(System.lineSeparator());
        }
        System.out.print(out);
    }
}
