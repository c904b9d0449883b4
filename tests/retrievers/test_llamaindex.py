"""Our retrievers inside stock LlamaIndex machinery, with a mock LLM."""

from llama_index.core import Document
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore

from retrievers import BM25Retriever, DPRRetriever, HybridRetriever


def test_a_query_engine_around_the_hybrid_retriever(ingested):
    retriever = HybridRetriever.from_defaults("default", store_dir=ingested.store, similarity_top_k=3)
    assert isinstance(retriever, BaseRetriever)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(max_tokens=8))
    response = engine.query("Which river carries the most water?")
    assert response.response  # the mock LLM answered from the retrieved context
    assert len(response.source_nodes) == 3
    top = response.source_nodes[0]
    assert "Amazon" in top.node.get_content() and top.node.metadata["source"].endswith("rivers.md")


def test_each_retriever_returns_nodes_with_scores(ingested):
    for cls in (DPRRetriever, BM25Retriever, HybridRetriever):
        nodes = cls.from_defaults("default", store_dir=ingested.store, similarity_top_k=2).retrieve("domestic cat pet")
        assert nodes and all(isinstance(n, NodeWithScore) for n in nodes), cls
        assert "cat" in nodes[0].node.get_content(), cls
        assert nodes[0].score >= nodes[-1].score


def test_linear_fusion_uses_exact_scores_from_both_retrievers(ingested):
    hybrid = HybridRetriever.from_defaults(
        "default", store_dir=ingested.store, fusion="linear", normalization="none", dense_weight=1.1, similarity_top_k=5
    )
    query = "Eiffel tower in Paris"
    fused = hybrid.search(query)
    ids = [p.id for p, _ in fused]
    bm25 = hybrid.sparse.score(query, ids)
    dense = hybrid.dense.score_vector(hybrid.dense.encode_query(query), ids)
    for passage, score in fused:
        assert abs(score - (bm25[passage.id] + 1.1 * dense[passage.id])) < 1e-4


def test_built_from_llamaindex_nodes_then_persisted_and_reloaded(tmp_path):
    docs = [
        Document(text="Honey bees make honey from flower nectar.", metadata={"title": "Bees"}),
        Document(text="Penguins are flightless birds of the southern hemisphere.", metadata={"title": "Penguins"}),
    ]
    nodes = SentenceSplitter(chunk_size=64, chunk_overlap=0).get_nodes_from_documents(docs)
    retriever = HybridRetriever.from_defaults(
        "from-nodes", store_dir=tmp_path / "store", nodes=nodes, similarity_top_k=1
    )
    assert retriever.retrieve("birds that cannot fly")[0].node.node_id == nodes[1].node_id
    retriever.persist(tmp_path / "saved")
    again = HybridRetriever.from_persist_dir(tmp_path / "saved")
    assert again.similarity_top_k == 1 and again.fusion == retriever.fusion
    assert again.retrieve("nectar")[0].node.metadata["title"] == "Bees"
    for cls in (DPRRetriever, BM25Retriever):
        r = cls.from_defaults("from-nodes", store_dir=tmp_path / "store", similarity_top_k=1)
        r.persist(tmp_path / cls.__name__)
        assert cls.from_persist_dir(tmp_path / cls.__name__).retrieve("penguin")[0].node.metadata["title"] == "Penguins"
